package localaws

import "time"

// attachEC2 wires the EC2 simulator (localaws/ec2sim) once it builds.
func (s *Server) attachEC2(delay time.Duration) {}

// seedEC2 adds the topology's VPCs, subnets and endpoint services.
func (s *Server) seedEC2(t *Topology, region string) error { return nil }
