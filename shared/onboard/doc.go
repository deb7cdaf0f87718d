// Package onboard is the onboard function's handler: it decodes an event
// about a VPC into hints and has package converge make each VPC what its
// tag says.
package onboard
