// Package endpointservice owns the hub's endpoint service as the product
// sees it: its name and the Availability Zones it offers (by AZ ID, since
// AZ names differ between accounts), and its allowed principals, one per
// spoke account.
package endpointservice
