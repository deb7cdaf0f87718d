package localaws

// Parameter returns a parameter's current value, for tests and the runner.
func (s *Server) Parameter(account, region, name string) (value string, version int64, ok bool) {
	return s.ssm.Parameter(account, region, name)
}
