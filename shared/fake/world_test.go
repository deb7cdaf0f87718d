package fake_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/fake"
)

func describeVpcs(w *fake.World, acct string) error {
	_, err := w.EC2(acct).DescribeVpcs(context.Background(), &ec2.DescribeVpcsInput{})
	return err
}

func TestFaultTimesAndScope(t *testing.T) {
	w := fake.NewWorld(fake.Options{})
	w.Fail(fake.Fault{Account: spoke, Action: "DescribeVpcs", Code: "RequestLimitExceeded", Times: 2})
	if err := describeVpcs(w, hub); err != nil {
		t.Errorf("fault for the spoke hit the hub: %v", err)
	}
	if _, err := w.EC2(spoke).DescribeSubnets(t.Context(), &ec2.DescribeSubnetsInput{}); err != nil {
		t.Errorf("fault for DescribeVpcs hit DescribeSubnets: %v", err)
	}
	for i := range 2 {
		err := describeVpcs(w, spoke)
		var generic *smithy.GenericAPIError
		if !errors.As(err, &generic) || generic.Code != "RequestLimitExceeded" {
			t.Fatalf("call %d: %v, want an injected *smithy.GenericAPIError", i, err)
		}
	}
	if err := describeVpcs(w, spoke); err != nil {
		t.Errorf("the fault outlived its 2 times: %v", err)
	}

	w.Fail(fake.Fault{Code: "InternalError"}) // any account, any action, forever
	for range 3 {
		if err := describeVpcs(w, other); code(err) != "InternalError" {
			t.Fatalf("always-fault: %v", err)
		}
	}
	w.ClearFaults()
	if err := describeVpcs(w, other); err != nil {
		t.Errorf("after ClearFaults: %v", err)
	}
}

func TestFaultRatioIsSeeded(t *testing.T) {
	run := func() (fails int) {
		w := fake.NewWorld(fake.Options{Seed: 7})
		w.Fail(fake.Fault{Service: "ec2", Code: "RequestLimitExceeded", Ratio: 0.3})
		for range 1000 {
			if describeVpcs(w, spoke) != nil {
				fails++
			}
		}
		return fails
	}
	a, b := run(), run()
	if a != b {
		t.Errorf("same seed, %d and %d failures", a, b)
	}
	if a < 230 || a > 370 {
		t.Errorf("%d failures of 1000 at ratio 0.3", a)
	}
}

func TestInjectedFaultChangesNothing(t *testing.T) {
	w := fake.NewWorld(fake.Options{})
	w.Fail(fake.Fault{Action: "PutParameter", Code: "TooManyUpdates", Times: 1})
	_, err := w.SSM(hub).PutParameter(t.Context(), &ssm.PutParameterInput{Name: aws.String("/p"), Value: aws.String("v")})
	if code(err) != "TooManyUpdates" {
		t.Fatalf("%v", err)
	}
	if _, ok := w.Parameter(hub, "/p"); ok {
		t.Error("a failed PutParameter stored the parameter")
	}
}

func TestCallsAreRecordedIncludingFailures(t *testing.T) {
	w := fake.NewWorld(fake.Options{})
	role := "arn:aws:sts::" + spoke + ":assumed-role/spoke/onboard"
	_, _ = w.EC2As(spoke, role).DescribeVpcs(t.Context(), &ec2.DescribeVpcsInput{})
	_, _ = w.EC2As(spoke, role).DescribeVpcs(t.Context(), &ec2.DescribeVpcsInput{VpcIds: []string{"vpc-00000000000000000"}})
	_, _ = w.SSM(hub).GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("/x")})
	want := []fake.Call{
		{Account: spoke, Principal: role, Service: "ec2", Action: "DescribeVpcs"},
		{Account: spoke, Principal: role, Service: "ec2", Action: "DescribeVpcs", Code: "InvalidVpcID.NotFound"},
		{Account: hub, Principal: fake.RootARN(hub), Service: "ssm", Action: "GetParameter", Code: "ParameterNotFound"},
	}
	got := w.Calls()
	if len(got) != len(want) {
		t.Fatalf("calls %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := w.CallCount("ec2", "DescribeVpcs"); n != 2 {
		t.Errorf("CallCount = %d", n)
	}
	if n := w.CallCount("", ""); n != 3 {
		t.Errorf("CallCount any = %d", n)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := w.EC2(spoke).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v", err)
	}
	w.Reset()
	if len(w.Calls()) != 0 || len(w.ParameterNames(hub)) != 0 {
		t.Error("Reset kept calls or state")
	}
}

func TestNoAliasingBetweenCallersAndState(t *testing.T) {
	f := setup(t, false)
	in := f.endpointInput("", f.subA, f.subB)
	out, err := f.w.EC2(spoke).CreateVpcEndpoint(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	id := *out.VpcEndpoint.VpcEndpointId
	in.SubnetIds[0] = "subnet-mutated"
	in.TagSpecifications[0].Tags[0].Value = aws.String("mutated")
	out.VpcEndpoint.SubnetIds[1] = "subnet-mutated"
	*out.VpcEndpoint.DnsEntries[0].DnsName = "mutated"
	out.VpcEndpoint.Tags[0].Value = aws.String("mutated")

	ep := f.endpoint(t, spoke, id)
	if ep.SubnetIds[0] != f.subA || ep.SubnetIds[1] != f.subB || *ep.DnsEntries[0].DnsName == "mutated" || *ep.Tags[0].Value != "jenkins-agent-vpcs" {
		t.Errorf("state changed through a caller's pointer: %+v", ep)
	}
}

// Two invocations racing to onboard one VPC with the same deterministic
// token must end with one endpoint; run with -race.
func TestConcurrentCreatesWithOneToken(t *testing.T) {
	f := setup(t, true)
	const n = 8
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			api := f.w.EC2(spoke)
			out, err := api.CreateVpcEndpoint(context.Background(), f.endpointInput("vpc-token", f.subA, f.subB))
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = *out.VpcEndpoint.VpcEndpointId
			_, _ = api.CreateTags(context.Background(), &ec2.CreateTagsInput{Resources: []string{f.vpc}, Tags: []types.Tag{{Key: aws.String("status"), Value: aws.String("ok")}}})
			_, _ = f.w.EC2(hub).AcceptVpcEndpointConnections(context.Background(), &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: &f.svcID, VpcEndpointIds: []string{ids[i]}})
			_, _ = f.w.SSM(hub).PutParameter(context.Background(), &ssm.PutParameterInput{Name: aws.String("/t"), Value: aws.String(ids[i]), Overwrite: aws.Bool(true)})
			f.clock.Advance(1)
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("racing creates made different endpoints: %v", ids)
		}
	}
	if conns := f.w.ConnectionsOf(f.svcID); len(conns) != 1 || conns[0].VpcEndpointState != "pending" {
		t.Errorf("connections %+v", conns)
	}
	if n := f.w.CallCount("ec2", "AcceptVpcEndpointConnections"); n != 8 {
		t.Errorf("%d accepts recorded", n)
	}
}
