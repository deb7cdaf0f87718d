// Package config owns the functions' configuration: the environment
// variables that template.yaml sets, parsed and validated once at cold
// start. A missing or invalid variable is an error that names it, so a
// misconfigured deployment fails loudly before it touches anything.
package config
