// Package spoke owns access to member accounts: the spoke role that the
// member template creates in every account, assumed once per account and
// Region, with credentials cached (role chaining caps sessions at one
// hour, so the cache refreshes before expiry) and clients reused across
// invocations of a warm function.
package spoke
