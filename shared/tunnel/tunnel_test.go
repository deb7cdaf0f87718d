package tunnel_test

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/localawstest"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

const base = "/jenkins-agent-vpcs/" + member + "/" + vpc

var (
	tunnelName   = base + "/" + tunnel.TunnelName
	documentName = base + "/" + tunnel.DocumentName
	urlName      = base + "/" + tunnel.JenkinsURLName
)

// storeOn is a Store on a local AWS whose calls the test counts.
func storeOn(t *testing.T) (tunnel.Store, *localawstest.AWS) {
	t.Helper()
	a := localawstest.New(t, localawstest.Options{Topology: &localaws.Topology{Region: "us-east-1",
		Accounts: []localaws.Account{{ID: hub}}}})
	return tunnel.Store{SSM: a.SSM(hub), Prefix: "/jenkins-agent-vpcs"}, a
}

// document is an agent VPC's document, available, with the HTTP port
// forwarded when url is not "".
func document(url string) tunnel.Document {
	host := "vpce-0123456789abcdef0-abcdefgh.vpce-svc-0a1b2c3d4e5f60001.us-east-1.vpce.amazonaws.com"
	return tunnel.Document{Account: member, Region: "us-east-1", VPCID: vpc, EndpointID: "vpce-0123456789abcdef0",
		EndpointState: "available", Status: "ready", Tunnel: tunnel.Tunnel(host, 50000), JenkinsURL: url,
		AgentSubnets: []string{"subnet-0aaaaaaaaaaaaaaa1"}, AgentSecurityGroup: "sg-0aaaaaaaaaaaaaaa1",
		ServiceName: "com.amazonaws.vpce.us-east-1.vpce-svc-0a1b2c3d4e5f60001"}
}

const url = "http://vpce-0123456789abcdef0-abcdefgh.vpce-svc-0a1b2c3d4e5f60001.us-east-1.vpce.amazonaws.com:8080/"

// stored is what Parameter Store holds under the VPC's path.
func stored(t *testing.T, a *localawstest.AWS) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range []string{tunnelName, documentName, urlName} {
		if v, ok := a.Parameter(hub, name); ok {
			out[name] = v
		}
	}
	return out
}

func values(t *testing.T, d tunnel.Document) map[string]string {
	t.Helper()
	tun, doc, err := tunnel.Values(d)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{tunnelName: tun, documentName: doc}
	if d.JenkinsURL != "" {
		out[urlName] = d.JenkinsURL
	}
	return out
}

func put(t *testing.T, a *localawstest.AWS, params map[string]string) {
	t.Helper()
	for name, v := range params {
		if _, err := a.SSM(hub).PutParameter(context.Background(), &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(v),
			Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}); err != nil {
			t.Fatal(err)
		}
	}
}

// calls counts the SSM calls made since mark, by action.
func calls(a *localawstest.AWS, mark int64) map[string]int {
	out := map[string]int{}
	for _, c := range a.CallsSince(mark) {
		if c.Service == "ssm" {
			out[c.Action]++
		}
	}
	return out
}

// Publish writes only the parameters that differ from what is stored
// (PutParameter is slow and throttled), and removes a jenkins-url that is
// no longer wanted.
func TestPublish(t *testing.T) {
	withURL, withoutURL := document(url), document("")
	moved := document(url)
	moved.Status, moved.EndpointState = "pending", "pendingAcceptance"
	tests := []struct {
		name    string
		before  map[string]string // stored before
		publish tunnel.Document
		wrote   []string // names Publish returns, in order
		puts    int
		deletes int
	}{
		{name: "nothing stored", publish: withURL, wrote: []string{tunnelName, documentName, urlName}, puts: 3},
		{name: "nothing stored, no HTTP port", publish: withoutURL, wrote: []string{tunnelName, documentName}, puts: 2},
		{name: "all stored as wanted", before: values(t, withURL), publish: withURL},
		{name: "all stored as wanted, no HTTP port", before: values(t, withoutURL), publish: withoutURL},
		{name: "the document's status moved", before: values(t, withURL), publish: moved, wrote: []string{documentName}, puts: 1},
		{name: "jenkins-url no longer wanted", before: values(t, withURL), publish: withoutURL,
			wrote: []string{documentName, urlName}, puts: 1, deletes: 1},
		{name: "jenkins-url newly wanted", before: values(t, withoutURL), publish: withURL,
			wrote: []string{documentName, urlName}, puts: 2},
		{name: "tunnel edited by hand", before: map[string]string{tunnelName: "example.com:1", documentName: values(t, withURL)[documentName], urlName: url},
			publish: withURL, wrote: []string{tunnelName}, puts: 1},
		{name: "only the tunnel left", before: map[string]string{tunnelName: withURL.Tunnel}, publish: withURL,
			wrote: []string{documentName, urlName}, puts: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, a := storeOn(t)
			put(t, a, tt.before)
			mark := a.Mark()
			wrote, err := s.Publish(context.Background(), tt.publish)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(wrote, tt.wrote) {
				t.Errorf("wrote %v, want %v", wrote, tt.wrote)
			}
			got := calls(a, mark)
			want := map[string]int{"GetParameters": 1}
			if tt.puts > 0 {
				want["PutParameter"] = tt.puts
			}
			if tt.deletes > 0 {
				want["DeleteParameters"] = tt.deletes
			}
			if len(got) != len(want) || got["GetParameters"] != 1 || got["PutParameter"] != tt.puts || got["DeleteParameters"] != tt.deletes {
				t.Errorf("SSM calls %v, want %v", got, want)
			}
			if have, want := stored(t, a), values(t, tt.publish); !maps.Equal(have, want) {
				t.Errorf("stored %v, want %v", have, want)
			}
		})
	}
}

// Remove reads first: removing what is already gone deletes nothing, and
// only the parameters that exist are named in the delete.
func TestRemove(t *testing.T) {
	all := values(t, document(url))
	tests := []struct {
		name    string
		before  map[string]string
		removed []string
		deletes int
	}{
		{name: "nothing stored", removed: nil},
		{name: "all three", before: all, removed: []string{documentName, urlName, tunnelName}, deletes: 1}, // sorted
		{name: "only the tunnel", before: map[string]string{tunnelName: all[tunnelName]}, removed: []string{tunnelName}, deletes: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, a := storeOn(t)
			put(t, a, tt.before)
			// Another VPC of the account keeps its parameters.
			other := "/jenkins-agent-vpcs/" + member + "/vpc-0bbbbbbbbbbbbbbb2/" + tunnel.TunnelName
			put(t, a, map[string]string{other: "example.com:50000"})
			mark := a.Mark()
			removed, err := s.Remove(context.Background(), member, vpc)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Sort(removed); !slices.Equal(removed, tt.removed) {
				t.Errorf("removed %v, want %v", removed, tt.removed)
			}
			if got := calls(a, mark); got["GetParameters"] != 1 || got["DeleteParameters"] != tt.deletes || len(got) != 1+min(tt.deletes, 1) {
				t.Errorf("SSM calls %v, want one GetParameters and %d DeleteParameters", got, tt.deletes)
			}
			if left := stored(t, a); len(left) != 0 {
				t.Errorf("left %v", left)
			}
			if _, ok := a.Parameter(hub, other); !ok {
				t.Errorf("removing %s deleted %s", vpc, other)
			}
		})
	}
}
