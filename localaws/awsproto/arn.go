package awsproto

import "strings"

// RoleARNOf maps arn:aws:sts::<acct>:assumed-role/<role>/<session> to
// arn:aws:iam::<acct>:role/<role>; any other ARN is returned unchanged.
func RoleARNOf(principal string) string {
	const marker = ":assumed-role/"
	i := strings.Index(principal, marker)
	if !strings.HasPrefix(principal, "arn:aws:sts::") || i < 0 {
		return principal
	}
	account := principal[len("arn:aws:sts::"):i]
	role, _, _ := strings.Cut(principal[i+len(marker):], "/")
	return "arn:aws:iam::" + account + ":role/" + role
}
