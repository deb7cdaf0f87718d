// Package pace owns request pacing: a token bucket that callers wait on
// before calls whose rate AWS limits more tightly than its SDK's retryer
// can absorb gracefully (SSM PutParameter, hub-side EC2 writes).
package pace
