package ec2sim

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

func TestActionsAreSortedAndServed(t *testing.T) {
	w := newWorld(t)
	names := w.svc.Actions()
	if !slices.IsSorted(names) || len(names) != len(actions) {
		t.Fatalf("actions %v", names)
	}
	for _, want := range []string{"CreateVpcEndpoint", "AcceptVpcEndpointConnections", "DescribeVpcs", "CreateTags"} {
		if !slices.Contains(names, want) {
			t.Fatalf("%s missing from %v", want, names)
		}
	}
	_, err := w.svc.Handle(&awsproto.Call{Account: hub, Principal: "arn:aws:iam::" + hub + ":root", Region: usEast1, Action: "RunInstances", Form: url.Values{}})
	var ae *awsproto.Error
	if !errors.As(err, &ae) || ae.Code != "InvalidAction" {
		t.Fatalf("unknown action: %v", err)
	}
}

func TestHandleWritesTheResponseDocument(t *testing.T) {
	w := newWorld(t)
	body, err := w.svc.Handle(&awsproto.Call{Account: hub, Region: usEast1, Action: "DescribeVpcs", Form: url.Values{}, RequestID: "abc"})
	mustNil(t, err)
	s := string(body)
	if !strings.Contains(s, `<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>abc</requestId><vpcSet></vpcSet></DescribeVpcsResponse>`) {
		t.Fatalf("body %s", s)
	}
}

func TestDryRun(t *testing.T) {
	w := newWorld(t)
	_, err := w.client(spoke).CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), DryRun: aws.Bool(true)})
	wantCode(t, err, "DryRunOperation")
	out, err := w.client(spoke).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	mustNil(t, err)
	if len(out.Vpcs) != 0 {
		t.Fatal("a dry run created a VPC")
	}
}

// TestConcurrentUse runs writers and readers of many accounts at once;
// run with -race to make it mean something more than "no deadlock".
func TestConcurrentUse(t *testing.T) {
	w := newWorld(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			account := fmt.Sprintf("%012d", 500000000000+i)
			c := w.client(account)
			for j := range 5 {
				out, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(fmt.Sprintf("10.%d.0.0/16", j))})
				if err != nil {
					errs <- err
					return
				}
				if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{aws.ToString(out.Vpc.VpcId)}, Tags: tags("n", fmt.Sprint(j))}); err != nil {
					errs <- err
					return
				}
				d, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
				if err != nil {
					errs <- err
					return
				}
				if len(d.Vpcs) != j+1 {
					errs <- fmt.Errorf("account %s sees %d VPCs after %d creates", account, len(d.Vpcs), j+1)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(w.sink.busEvents("aws.tag")); n != 40 {
		t.Fatalf("%d tag events, want 40", n)
	}
}

func TestSinkMayCallBack(t *testing.T) {
	clock := &awsproto.StoppedClock{}
	var svc *Service
	sink := &callbackSink{}
	svc = New(clock, sink)
	sink.onEvent = func() {
		// Re-entering the service from a sink must not deadlock.
		if _, err := svc.Handle(&awsproto.Call{Account: spoke, Region: usEast1, Action: "DescribeVpcs", Form: url.Values{}}); err != nil {
			t.Error(err)
		}
	}
	_, err := svc.Handle(&awsproto.Call{Account: spoke, Region: usEast1, Action: "CreateVpc", Form: url.Values{"CidrBlock": {"10.0.0.0/16"}}})
	mustNil(t, err)
	if sink.calls != 1 {
		t.Fatalf("%d callbacks", sink.calls)
	}
}

type callbackSink struct {
	onEvent func()
	calls   int
}

func (s *callbackSink) DefaultBus(string, string, awsproto.Event)          { s.calls++; s.onEvent() }
func (s *callbackSink) Publish(string, string, string, awsproto.Publisher) {}
