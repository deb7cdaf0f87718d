package ec2sim

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
)

// Availability Zone names are per account: us-east-1a of one account is
// not the same zone as us-east-1a of another. AZ ids (use1-az1) are the
// same everywhere. Each account gets a deterministic rotation of its
// Region's zones, so code that matches zones by name across accounts breaks
// here as it would on AWS.

var regionPattern = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$`)

// zoneCount is how many zones a Region has (the real count for the Regions
// this project is likely to use, three elsewhere).
func zoneCount(region string) int {
	switch region {
	case "us-east-1":
		return 6
	case "us-west-2", "ap-northeast-1", "ap-northeast-2":
		return 4
	}
	return 3
}

// zoneIDPrefix is AWS's short Region code of zone ids: us-east-1 -> use1,
// eu-central-1 -> euc1, ap-southeast-2 -> apse2.
func zoneIDPrefix(region string) string {
	parts := strings.Split(region, "-")
	var b strings.Builder
	for i, p := range parts {
		switch {
		case i == 0 || i == len(parts)-1:
			b.WriteString(p)
		case p == "gov":
			b.WriteString("gov")
		default:
			if short, ok := compass[p]; ok {
				b.WriteString(short)
			} else {
				b.WriteString(p[:1])
			}
		}
	}
	return b.String()
}

var compass = map[string]string{
	"north": "n", "south": "s", "east": "e", "west": "w", "central": "c",
	"northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
}

func azOffset(account, region string) int {
	h := fnv.New32a()
	h.Write([]byte(account))
	h.Write([]byte(region))
	return int(h.Sum32() % uint32(zoneCount(region)))
}

// zoneNames are the Region's zone names, a, b, c, ...
func zoneNames(region string) []string {
	n := zoneCount(region)
	out := make([]string, n)
	for i := range out {
		out[i] = region + string(rune('a'+i))
	}
	return out
}

// zoneID maps the account's zone name to its zone id ("" when the name is
// not a zone of the Region).
func (r *region) zoneID(name string) string {
	if !strings.HasPrefix(name, r.name) || len(name) != len(r.name)+1 {
		return ""
	}
	i := int(name[len(name)-1] - 'a')
	n := zoneCount(r.name)
	if i < 0 || i >= n {
		return ""
	}
	return zoneIDPrefix(r.name) + "-az" + strconv.Itoa((i+r.azOffset)%n+1)
}

// zoneName maps a zone id to the account's zone name ("" when unknown).
func (r *region) zoneName(id string) string {
	prefix := zoneIDPrefix(r.name) + "-az"
	if !strings.HasPrefix(id, prefix) {
		return ""
	}
	k, err := strconv.Atoi(id[len(prefix):])
	n := zoneCount(r.name)
	if err != nil || k < 1 || k > n {
		return ""
	}
	i := ((k-1-r.azOffset)%n + n) % n
	return r.name + string(rune('a'+i))
}

// AZID returns account's zone id for its zone name azName in region ("" when
// azName is not one of the Region's zones).
func (s *Service) AZID(account, region, azName string) string {
	r := emptyRegion(account, region)
	return r.zoneID(azName)
}

// vpceHostedZone is the Route 53 zone id of *.vpce.amazonaws.com names in
// a Region (AWS's for the common Regions, a stable stand-in elsewhere).
func vpceHostedZone(region string) string {
	switch region {
	case "us-east-1":
		return "Z7HUB22UULQXV"
	case "us-east-2":
		return "ZC8PG0KIFKBRI"
	case "us-west-1":
		return "Z12I86A8N7VCZO"
	case "us-west-2":
		return "Z1YSA3EXCYUU9Z"
	case "eu-west-1":
		return "Z38GZ743OKFT7T"
	case "eu-central-1":
		return "Z273ZU8SZ5RJPC"
	}
	h := fnv.New64a()
	h.Write([]byte(region))
	return fmt.Sprintf("Z%012X", h.Sum64()&0xffffffffffff)
}
