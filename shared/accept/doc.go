// Package accept owns the accept function's behaviour: on a connection
// notification from the endpoint service, settle every pending connection
// through the acceptance guard. The notification only says "look": the
// guard reads the connections and the owners' VPCs again.
package accept
