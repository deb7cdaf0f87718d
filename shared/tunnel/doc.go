// Package tunnel owns what Jenkins reads: per agent VPC, a plain host:port
// tunnel parameter and a JSON document parameter in SSM Parameter Store
// under the configured prefix. It writes only what changed (PutParameter is
// slow and throttled) and treats "already gone" as success on removal.
package tunnel
