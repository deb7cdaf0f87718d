package localaws

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/ec2sim"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/sqssim"
)

// attachEC2 wires the EC2 simulator: it reads the server's clock and emits
// tagging events and connection notifications through the server's sink.
func (s *Server) attachEC2(opts Options) {
	sim := ec2sim.New(s.clock, s)
	if opts.TransitionDelay > 0 {
		sim.SetTransitionDelay(opts.TransitionDelay)
	}
	s.ec2, s.ec2sim = sim, sim
	if !opts.Relax.Consistency {
		if opts.Consistency.Seed == 0 {
			opts.Consistency.Seed = opts.Seed
		}
		s.SetConsistency(opts.Consistency)
	}
}

// ConsistencyFaults is how many EC2 calls were answered with state older
// than the truth because of eventual consistency (a resource unknown or
// left out, stale tags, state or permissions): what a test suite exercised.
func (s *Server) ConsistencyFaults() int64 { return s.ec2sim.ConsistencyFaults() }

// SetConsistency turns eventual consistency on with c (a zero Window is
// DefaultConsistencyWindow) and reseeds its draws.
func (s *Server) SetConsistency(c Consistency) {
	if c.Window <= 0 {
		c.Window = DefaultConsistencyWindow
	}
	s.ec2sim.SetConsistency(ec2sim.Consistency{Window: c.Window, Seed: c.Seed})
	s.sqs.SetCreationDelay(sqssim.DefaultCreationDelay)
}

// ConsistencyWindow is EC2's consistency window now (zero when relaxed).
func (s *Server) ConsistencyWindow() time.Duration { return s.ec2sim.ConsistencyWindow() }

// RelaxConsistency turns eventual consistency off, as Relax.Consistency
// does: from now on reads see every write at once (and a new queue is
// usable at once).
func (s *Server) RelaxConsistency() {
	s.ec2sim.SetConsistency(ec2sim.Consistency{})
	s.sqs.SetCreationDelay(0)
}

// SetEndpointState puts an endpoint in a state only AWS's own failures
// reach: "failed", "Partial" (some subnets failed) or "" to clear.
func (s *Server) SetEndpointState(account, region, endpointID, state string) error {
	return s.ec2sim.SetEndpointState(account, region, endpointID, state)
}

// EC2 is the EC2 simulator, for seeding beyond the topology format.
func (s *Server) EC2() *ec2sim.Service { return s.ec2sim }

// SetTransitionDelay sets how long endpoints stay pending or deleting.
func (s *Server) SetTransitionDelay(d time.Duration) { s.ec2sim.SetTransitionDelay(d) }

// seedEC2 adds the topology's VPCs, subnets and endpoint services.
func (s *Server) seedEC2(t *Topology, region string) error {
	for _, a := range t.Accounts {
		for i, v := range a.VPCs {
			r := or(v.Region, region)
			cidr := or(v.CIDR, "10.0.0.0/16")
			vpc, err := s.ec2sim.AddVPC(a.ID, r, ec2sim.VPC{ID: v.ID, CIDR: cidr, Tags: v.Tags})
			if err != nil {
				return fmt.Errorf("seeding VPC %d of %s, %w", i, a.ID, err)
			}
			for j, sn := range v.Subnets {
				snCIDR := sn.CIDR
				if snCIDR == "" {
					if snCIDR, err = nthSubnet(cidr, j); err != nil {
						return fmt.Errorf("seeding subnet %d of %s, %w", j, vpc.ID, err)
					}
				}
				if _, err := s.ec2sim.AddSubnet(a.ID, r, ec2sim.Subnet{ID: sn.ID, VPCID: vpc.ID, CIDR: snCIDR, AZ: sn.AZ, Tags: sn.Tags}); err != nil {
					return fmt.Errorf("seeding subnet %d of %s, %w", j, vpc.ID, err)
				}
			}
		}
		for _, es := range a.EndpointServices {
			r := or(es.Region, region)
			var azIDs []string
			for _, az := range es.AZs {
				if strings.HasPrefix(az, r) {
					id := s.ec2sim.AZID(a.ID, r, az)
					if id == "" {
						return fmt.Errorf("seeding endpoint service in %s: %s is not a zone of %s", a.ID, az, r)
					}
					az = id
				}
				azIDs = append(azIDs, az)
			}
			if _, err := s.ec2sim.AddEndpointService(a.ID, r, ec2sim.EndpointService{ID: es.ID, Name: es.Name, AcceptanceRequired: es.AcceptanceRequired,
				AZIDs: azIDs, AllowedPrincipals: es.AllowedPrincipals, NotificationTopicARN: es.NotificationTopicARN, Ports: es.Ports,
				SupportedRegions: es.SupportedRegions}); err != nil {
				return fmt.Errorf("seeding endpoint service in %s, %w", a.ID, err)
			}
		}
	}
	return nil
}

// nthSubnet is the n-th /24 of a VPC CIDR (10.1.0.0/16, 2 -> 10.1.2.0/24).
func nthSubnet(vpcCIDR string, n int) (string, error) {
	p, err := netip.ParsePrefix(vpcCIDR)
	if err != nil {
		return "", fmt.Errorf("parsing CIDR %s, %w", vpcCIDR, err)
	}
	if p.Bits() > 24 || !p.Addr().Is4() {
		return "", fmt.Errorf("VPC CIDR %s is too small for default /24 subnets: give subnet CIDRs", vpcCIDR)
	}
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8
	v += uint32(n) << 8
	return fmt.Sprintf("%d.%d.%d.0/24", v>>24, v>>16&0xff, v>>8&0xff), nil
}
