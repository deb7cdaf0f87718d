// Package telemetry owns what the functions tell operators: a slog JSON
// logger carried in the context (enriched once per invocation, then per
// account and VPC), and metrics in CloudWatch embedded metric format,
// counted during an invocation and written as one line at its end.
package telemetry
