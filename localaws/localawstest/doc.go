// Package localawstest runs the local AWS in-process for Go tests: one
// localaws.Server per test on 127.0.0.1:0, seeded from a topology, with the
// product's templates optionally deployed into it as the local stack
// deploys them (localstack.Deploy: function roles, spoke roles and their
// trust, the central bus, the rules), but without starting any function.
//
// A test builds the functions' object graph itself (function.NewCore with
// real SDK clients from Session or Root configurations), drives it, and
// asserts on the resulting state through the server's public API or SDK
// calls as an account's root: parameters, a service's allowed principals,
// endpoint states, events put on buses, and the call log, which names the
// principal of every call. Faults and the clock are the server's own.
//
// It is the one emulator tests use (STYLE.md, "Test doubles"): strict by
// default (the zero localaws.Relax), relaxed only where a test says why.
package localawstest
