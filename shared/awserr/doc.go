// Package awserr classifies AWS API errors by their code, in one place, so
// that every caller agrees on what "not found", "already there" and
// "try again later" mean.
package awserr
