// Package function builds the functions' object graphs from configuration
// and clients. main.go calls it with real SDK clients, the tests with fakes,
// so both run the same graph.
package function
