package localstack

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
)

// deployReload deploys the templates into a new local AWS (exactly-once
// delivery, so deliveries can be counted) with the reload parameters and
// secrets given, and returns the hub's EventBridge client.
func deployReload(t *testing.T, jenkins *Jenkins, params, secrets map[string]string) (*localaws.Server, string) {
	t.Helper()
	topo, err := Topology()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := localaws.NewServer(localaws.Options{Topology: topo, Relax: localaws.Relax{Delivery: true}})
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	if jenkins != nil {
		srv.SetAPIDestinationClient(jenkins.Client())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Deploy(ctx, srv, url, DeployOptions{RepoRoot: "..", Topology: topo, Parameters: params, Secrets: secrets}); err != nil {
		t.Fatal(err)
	}
	return srv, url
}

// putStatus puts an Agent VPC Status event on the hub bus as account.
func putStatus(t *testing.T, url, account, detail string) {
	t.Helper()
	eb := eventbridge.NewFromConfig(AdminConfig(url, "eu-west-1", account))
	out, err := eb.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String("arn:aws:events:eu-west-1:" + HubAccount + ":event-bus/jenkins-agent-vpcs"),
		Source:       aws.String("jenkins-agent-vpcs"), DetailType: aws.String("Agent VPC Status"), Detail: aws.String(detail)}}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("putting %s as %s: %+v, %v", detail, account, out, err)
	}
}

// The reload rule calls Jenkins for status changes to ready or removed put
// by the hub, and for nothing else.
func TestReloadRuleCallsJenkinsOnlyForChangesToReadyOrRemoved(t *testing.T) {
	for _, tt := range []struct {
		name, account, detail string
		reloads               int
	}{
		{"became ready", HubAccount, `{"status":"ready","changed":true}`, 1},
		{"removed", HubAccount, `{"status":"removed","changed":true}`, 1},
		{"ready again, unchanged (retry or sweep)", HubAccount, `{"status":"ready","changed":false}`, 0},
		{"connecting", HubAccount, `{"status":"connecting","changed":true}`, 0},
		{"put by a member account", "222222222222", `{"status":"ready","changed":true}`, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			jenkins := StartJenkins("t0ken")
			defer jenkins.Close()
			srv, url := deployReload(t, jenkins, map[string]string{"JenkinsUrl": jenkins.URL, "JenkinsReloadTokenSecret": "casc"}, map[string]string{"casc": "t0ken"})
			putStatus(t, url, tt.account, tt.detail)
			if !srv.Flush(10 * time.Second) {
				t.Fatal("deliveries did not finish")
			}
			if got := jenkins.Reloads(); got != tt.reloads {
				t.Errorf("Jenkins reloaded %d times, want %d (calls %+v, dead letters %+v)", got, tt.reloads, jenkins.Calls(), srv.DeadLetters())
			}
			for _, c := range jenkins.Calls() {
				if c.From != "reload" {
					t.Errorf("call without the connection's header: %+v", c)
				}
			}
		})
	}
}

// A token Jenkins does not know is refused (401, as the JCasC plugin
// answers) and the event lands in the reload rule's dead-letter queue,
// not retried.
func TestWrongReloadTokenIsRefusedAndDeadLettered(t *testing.T) {
	jenkins := StartJenkins("t0ken")
	defer jenkins.Close()
	srv, url := deployReload(t, jenkins, map[string]string{"JenkinsUrl": jenkins.URL, "JenkinsReloadTokenSecret": "casc"}, map[string]string{"casc": "not-the-token"})
	putStatus(t, url, HubAccount, `{"status":"ready","changed":true}`)
	if !srv.Flush(10 * time.Second) {
		t.Fatal("deliveries did not finish")
	}
	calls := jenkins.Calls()
	if len(calls) != 1 || calls[0].Status != http.StatusUnauthorized || jenkins.Reloads() != 0 {
		t.Errorf("Jenkins calls %+v, want one refused with 401", calls)
	}
	dl := srv.DeadLetters()
	if len(dl) != 1 || dl[0].ErrorCode != "HTTP_STATUS_401" || !strings.HasSuffix(dl[0].QueueARN, ":jenkins-agent-vpcs-JenkinsReloadDeadLetterQueue") {
		t.Errorf("dead letters %+v, want the event in the reload dead-letter queue", dl)
	}
}

// Without JenkinsUrl there is no reload rule, connection or destination;
// a missing secret fails the deployment as it fails the stack.
func TestReloadIsOffWithoutJenkinsUrl(t *testing.T) {
	_, url := deployReload(t, nil, nil, nil)
	eb := eventbridge.NewFromConfig(AdminConfig(url, "eu-west-1", HubAccount))
	rules, err := eb.ListRules(context.Background(), &eventbridge.ListRulesInput{EventBusName: aws.String("jenkins-agent-vpcs")})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules.Rules {
		if strings.Contains(aws.ToString(r.Name), "Reload") {
			t.Errorf("rule %s exists without JenkinsUrl", aws.ToString(r.Name))
		}
	}
	_, err = eb.DescribeApiDestination(context.Background(), &eventbridge.DescribeApiDestinationInput{Name: aws.String("jenkins-agent-vpcs-JenkinsReloadDestination")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ResourceNotFoundException" {
		t.Errorf("DescribeApiDestination without JenkinsUrl: %v", err)
	}

	topo, _ := Topology()
	srv, err := localaws.NewServer(localaws.Options{Topology: topo})
	if err != nil {
		t.Fatal(err)
	}
	url2, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Close() }()
	_, err = Deploy(context.Background(), srv, url2, DeployOptions{RepoRoot: "..", Topology: topo,
		Parameters: map[string]string{"JenkinsUrl": "https://jenkins.example", "JenkinsReloadTokenSecret": "absent"}})
	if err == nil || !strings.Contains(err.Error(), "secret absent does not exist") {
		t.Errorf("deploying with a missing secret: %v", err)
	}
}
