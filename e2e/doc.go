// Package e2e holds the end-to-end tests: the functions' real bootstrap
// binaries, built once per run by the Makefile targets, run under the AWS
// Lambda Runtime Interface Emulator against the local AWS, with events
// routed as template.yaml and member-template.yaml route them (package
// localstack). Nothing here calls a handler in-process.
package e2e
