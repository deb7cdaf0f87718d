// Package agentvpc owns the spoke side of an agent VPC: the agent and
// endpoint security groups and the interface endpoint that the product
// creates in a member account's VPC, and the status tags on the VPC.
//
// It works in three steps, as a controller does: Observe reads what is
// there, Plan (a pure function) compares it with what the tags ask for and
// lists the differences, each naming the drift and its repair, and Apply
// makes only those changes. Every write is safe to repeat: security group
// names are unique per VPC, the endpoint's ClientToken is derived from what
// it is for, and "already there" or "already gone" count as success. So
// two invocations racing for one VPC end with one endpoint and one pair of
// groups.
package agentvpc
