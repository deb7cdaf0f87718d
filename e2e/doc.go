// Package e2e holds the end-to-end tests: the functions' real bootstrap
// binaries, built once per run by the Makefile targets, run under the AWS
// Lambda Runtime Interface Emulator against the local AWS, with events
// routed as template.yaml and member-template.yaml route them (package
// localstack). Nothing here calls a handler in-process.
//
// The local AWS delivers events as AWS does (strict delivery, seeded):
// duplicated, late, out of order, with some aws.tag events lost. Tests
// assert the end state, not the number of invocations, and make up for
// lost events as the product does, by firing the reconcile schedule when
// events alone did not converge (converge in e2e_test.go).
package e2e
