package localaws

import (
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/stssim"
)

// Credentials are temporary credentials issued for a role session.
type Credentials = stssim.Credentials

// seedIAM adds the topology's organization, accounts and roles.
func (s *Server) seedIAM(t *Topology) error {
	if t.Organization != nil {
		s.iam.SetOrganization(t.Organization.ID, t.Organization.Accounts)
	}
	for _, a := range t.Accounts {
		s.iam.AddAccount(a.ID)
		for _, r := range a.Roles {
			policies := make([]stssim.Policy, len(r.Policies))
			for i, p := range r.Policies {
				policies[i] = stssim.Policy{Name: p.Name, Document: p.Document}
			}
			role := stssim.Role{Name: r.Name, Trust: stssim.Trust(r.Trust), MaxSessionDuration: r.MaxSessionDuration}
			if err := s.iam.AddRole(a.ID, role, policies); err != nil {
				return err
			}
		}
	}
	return nil
}

// RoleCredentials issues session credentials for a role as an AWS service
// would (Lambda running a function with its execution role): no trust
// check. The role must exist in the topology.
func (s *Server) RoleCredentials(account, roleName, sessionName string, duration time.Duration) (Credentials, error) {
	c, err := s.iam.Assume(stssim.Identity{Account: account, Principal: "lambda.amazonaws.com"},
		"arn:aws:iam::"+account+":role/"+roleName, sessionName, "", int(duration/time.Second), true)
	if err != nil {
		return Credentials{}, err
	}
	return c, nil
}
