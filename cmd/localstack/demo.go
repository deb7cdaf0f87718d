package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localstack"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/arn"
)

var (
	teamA   = localstack.AgentVPC{Account: "222222222222", VPC: "vpc-0a000000000000001"}
	sandbox = localstack.AgentVPC{Account: "222222222222", VPC: "vpc-0a000000000000002"}
	teamB   = localstack.AgentVPC{Account: "333333333333", VPC: "vpc-0b000000000000001"}
)

// demo narrates one scenario on the local stack; any step that does not
// turn out as it should fails the demo.
type demo struct {
	w     io.Writer
	s     *localstack.Stack
	ctx   context.Context
	step  int
	start time.Time
	steps []timing
	// jenkins stands in for the controller whose JCasC the reload rule
	// reloads (demo_reload.go).
	jenkins *localstack.Jenkins
}

type timing struct {
	name string
	took time.Duration
}

func runDemo(ctx context.Context, w io.Writer) (err error) {
	d := &demo{w: w, ctx: ctx, start: time.Now()}
	fmt.Fprintln(w, "jenkins-agent-vpcs demo: the whole product on this machine, no AWS account.")
	err = d.do("Start the local stack", func() error {
		work, err := os.MkdirTemp("", "localstack-demo-")
		if err != nil {
			return err
		}
		d.say("local AWS (EC2, STS, SSM, EventBridge, SNS, SQS) with the topology of localstack/topology.yaml;")
		d.say("template.yaml and member-template.yaml deployed into it; each function built with")
		d.say("make build-<LogicalId> and run as its bootstrap under the Runtime Interface Emulator.")
		d.say("The hub's rules put VPC events on OnboardQueue; an event source mapping polls it and")
		d.say("invokes OnboardFunction with batches, as Lambda does.")
		// The grace period protects onboardings in flight in AWS; the demo's
		// resources are seconds old, so it is off here. Delivery is reliable
		// (exactly once, in order, nothing lost) so that what the demo says
		// happened did: under AWS's delivery a lost tag event waits for the
		// schedule, which e2e covers (make local -lossy shows it).
		d.jenkins = localstack.StartJenkins(demoReloadToken)
		d.s, err = localstack.Start(ctx, localstack.Options{WorkDir: work, Trace: indent{w}, Progress: indent{w}, Parameters: map[string]string{"GracePeriod": "0s"},
			Relax: localaws.Relax{Delivery: true}, Jenkins: d.jenkins})
		if err != nil {
			return err
		}
		d.say("local AWS at %s; logs of the functions in %s/logs", d.s.URL, work)
		return nil
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, d.s.Close()); d.jenkins.Close() }()
	steps := []demoStep{
		{"Tag two VPCs in two accounts (jenkins-agents=true), nothing else", d.tagBoth},
		{"What Jenkins reads: the published tunnel and document", d.showParameters},
		{"Jenkins reloads its configuration as code: the two changes folded into one reload", d.reloads},
		{"Break things by hand", d.breakThings},
		{"The reconciler's plan (dry run), then one scheduled run repairs it", d.reconcile},
		{"Refusals: a forged event and an endpoint from an untagged VPC", d.refusals},
		{"Untag both VPCs: everything is cleaned up", d.untag},
		{"A VPC in another Region: tag, tunnel through the hub's service, untag", d.otherRegion},
		{"Every JCasC reload so far: at most one per 5 minutes, after every change (repairs and removals too)", d.allReloads},
	}
	for _, st := range steps {
		if err := d.do(st.name, st.fn); err != nil {
			return err
		}
	}
	return d.summary()
}

// demoStep is one numbered step of the demo.
type demoStep struct {
	name string
	fn   func() error
}

func (d *demo) do(name string, fn func() error) error {
	d.step++
	fmt.Fprintf(d.w, "\n== %d. %s\n", d.step, name)
	start := time.Now()
	err := fn()
	took := time.Since(start)
	d.steps = append(d.steps, timing{name, took})
	if err != nil {
		fmt.Fprintf(d.w, "   FAILED after %s: %v\n", took.Round(time.Millisecond), err)
		// What the functions logged last, since the work directory goes
		// with the demo.
		for _, id := range []string{"OnboardFunction", "AcceptFunction", "ReconcileFunction"} {
			lines := strings.Split(strings.TrimSpace(d.s.Log(id)), "\n")
			fmt.Fprintf(d.w, "   -- last lines of %s's log --\n", id)
			for _, l := range lines[max(0, len(lines)-8):] {
				fmt.Fprintf(d.w, "   %.400s\n", l)
			}
		}
		return fmt.Errorf("step %d (%s), %w", d.step, name, err)
	}
	fmt.Fprintf(d.w, "   (%s)\n", took.Round(100*time.Microsecond))
	return nil
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.w, "   "+format+"\n", args...)
}

func (d *demo) settle() error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(d.ctx, min(15*time.Second, time.Until(deadline)))
		err := d.s.Settle(ctx)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		// A message left in flight returns after the onboarding queue's
		// visibility timeout (30 minutes): let that time pass.
		if moved, rerr := d.s.ReturnAbandoned(d.ctx); rerr != nil {
			return errors.Join(err, rerr)
		} else if moved {
			d.say("(the onboarding queue's visibility timeout passes for a message left in flight)")
		}
	}
}

// table prints the status of the demo's VPCs and returns them.
func (d *demo) table() (map[localstack.AgentVPC]localstack.VPCStatus, error) {
	out := map[localstack.AgentVPC]localstack.VPCStatus{}
	tw := tabwriter.NewWriter(d.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "   ACCOUNT\tVPC\tTAGGED\tENDPOINT\tSTATE\tHUB SEES\tSUBNETS\tACCOUNT ALLOWED\tTUNNEL PARAMETER")
	for _, v := range []localstack.AgentVPC{teamA, teamB, sandbox} {
		st, err := d.s.Status(d.ctx, v)
		if err != nil {
			return nil, err
		}
		out[v] = st
		ep, state, conn, subnets := "-", "-", "-", "-"
		if len(st.Endpoints) > 0 {
			e := st.Endpoints[0]
			ep, state, subnets = e.ID, e.State, strings.Join(e.Subnets, ",")
			if c, err := d.s.Connection(d.ctx, e.ID); err == nil && c != "" {
				conn = c
			}
			if len(st.Endpoints) > 1 {
				ep += fmt.Sprintf(" (+%d)", len(st.Endpoints)-1)
			}
		}
		fmt.Fprintf(tw, "   %s\t%s\t%v\t%s\t%s\t%s\t%s\t%v\t%s\n", v.Account, v.VPC, st.Tagged, ep, state, conn, subnets, st.Principal, or(st.Tunnel, "-"))
	}
	return out, tw.Flush()
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (d *demo) tagBoth() error {
	for _, v := range []localstack.AgentVPC{teamA, teamB} {
		start := time.Now()
		d.say("$ AWS_ACCESS_KEY_ID=%s aws ec2 create-tags --resources %s --tags Key=jenkins-agents,Value=true", v.Account, v.VPC)
		if err := d.s.Tag(d.ctx, v, true); err != nil {
			return err
		}
		// Seconds, not milliseconds: the local AWS's EC2 lags its writes as
		// AWS does, and the function reads again until it catches up.
		took, err := d.waitTunnel(v, 30*time.Second)
		if err != nil {
			return err
		}
		d.say("  -> tunnel parameter readable in the hub %s after create-tags", took.Round(time.Millisecond))
		_ = start
	}
	if err := d.settle(); err != nil {
		return err
	}
	d.s.Later() // look a moment later, past EC2's consistency window
	d.say("")
	st, err := d.table()
	if err != nil {
		return err
	}
	for _, v := range []localstack.AgentVPC{teamA, teamB} {
		if !st[v].Ready("50000") {
			return fmt.Errorf("%s is not ready: %+v", v, st[v])
		}
	}
	d.say("")
	d.say("Endpoints use one subnet per AZ the service offers (eu-west-1a/b, not c); team B's only its opted-in subnets.")
	return nil
}

func (d *demo) waitTunnel(v localstack.AgentVPC, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	name := d.s.ParameterPath(v) + "/tunnel"
	for time.Since(start) < limit {
		if _, err := d.s.SSM(d.s.Hub).GetParameter(d.ctx, &ssm.GetParameterInput{Name: aws.String(name)}); err == nil {
			return time.Since(start), nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s did not appear within %s", name, limit)
}

func (d *demo) showParameters() error {
	prefix := d.s.Parameters["ParameterPrefix"]
	d.say("$ AWS_ACCESS_KEY_ID=%s aws ssm get-parameters-by-path --path %s --recursive", d.s.Hub, prefix)
	var token *string
	for {
		out, err := d.s.SSM(d.s.Hub).GetParametersByPath(d.ctx, &ssm.GetParametersByPathInput{Path: aws.String(prefix), Recursive: aws.Bool(true), NextToken: token})
		if err != nil {
			return err
		}
		for _, p := range out.Parameters {
			value := aws.ToString(p.Value)
			if strings.HasSuffix(aws.ToString(p.Name), "/document") {
				var doc map[string]any
				if json.Unmarshal([]byte(value), &doc) == nil {
					b, _ := json.MarshalIndent(doc, "       ", "  ")
					value = string(b)
				}
			}
			d.say("  %s = %s", aws.ToString(p.Name), value)
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	d.say("")
	d.say("JCasC (configuration-as-code-secret-ssm, CASC_SSM_PREFIX=%s/) reads ${222222222222/%s/tunnel} as the ECS cloud's tunnel.", prefix, teamA.VPC)
	return nil
}

func (d *demo) breakThings() error {
	b := localstack.Breakages()
	plan := []struct {
		v localstack.AgentVPC
		b localstack.Breakage
	}{{teamA, b[0]}, {teamA, b[2]}, {teamB, b[1]}, {teamB, b[3]}}
	for _, p := range plan {
		d.say("- %s: %s", p.v, p.b.Story)
		if err := p.b.Apply(d.ctx, d.s, p.v); err != nil {
			return err
		}
	}
	if err := d.settle(); err != nil {
		return err
	}
	d.say("")
	st, err := d.table()
	if err != nil {
		return err
	}
	for _, v := range []localstack.AgentVPC{teamA, teamB} {
		if st[v].Ready("50000") {
			return fmt.Errorf("%s still looks fine after being broken", v)
		}
	}
	return nil
}

// planItem is one item of the reconciler's report (shared/reconcile.Item).
type planItem struct {
	Account, VPCID, Drift, Repair, Detail string
}

func (d *demo) reconcile() error {
	d.say("$ invoke ReconcileFunction '{\"dryRun\": true}'")
	res, err := d.s.Invoke(d.ctx, "ReconcileFunction", []byte(`{"dryRun": true}`))
	if err != nil {
		return err
	}
	if res.Error != nil {
		return res.Error
	}
	var rep struct {
		Accounts, VPCs, Drifts, Repairs int
		Items                           []planItem
	}
	if err := json.Unmarshal(res.Payload, &rep); err != nil {
		return fmt.Errorf("reading the dry-run report %q, %w", res.Payload, err)
	}
	d.say("plan: %d accounts, %d VPCs, %d drifts (nothing applied)", rep.Accounts, rep.VPCs, rep.Drifts)
	tw := tabwriter.NewWriter(d.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "   ACCOUNT\tVPC\tDRIFT\tREPAIR\tDETAIL")
	for _, it := range rep.Items {
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%s\t%.70s\n", it.Account, or(it.VPCID, "-"), it.Drift, it.Repair, it.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rep.Drifts == 0 {
		return errors.New("the dry run found no drift")
	}
	d.say("")
	d.say("fire the schedule rule (EventBridge -> ReconcileFunction), once:")
	runs := len(d.reconcileRuns())
	start := time.Now()
	if err := d.s.TriggerSchedules(); err != nil {
		return err
	}
	if err := d.settle(); err != nil {
		return err
	}
	got := d.reconcileRuns()[runs:]
	d.s.Later() // look a moment later, past EC2's consistency window
	if len(got) != 1 || got[0].Failed() {
		return fmt.Errorf("want one successful scheduled run, got %d", len(got))
	}
	if err := json.Unmarshal(got[0].Result.Payload, &rep); err != nil {
		return fmt.Errorf("reading the scheduled run's report %q, %w", got[0].Result.Payload, err)
	}
	d.say("repaired %d of %d drifts in %s", rep.Repairs, rep.Drifts, time.Since(start).Round(time.Millisecond))
	d.say("")
	st, err := d.table()
	if err != nil {
		return err
	}
	for _, v := range []localstack.AgentVPC{teamA, teamB} {
		if !st[v].Ready("50000") {
			return fmt.Errorf("%s not repaired: %+v", v, st[v])
		}
	}
	return nil
}

func (d *demo) reconcileRuns() []localstack.Invocation {
	var out []localstack.Invocation
	for _, inv := range d.s.Invocations() {
		if inv.Function == "ReconcileFunction" && inv.Trigger != "direct" {
			out = append(out, inv)
		}
	}
	return out
}

func (d *demo) refusals() error {
	// 1. Through EventBridge, an account cannot put aws.* events.
	d.say("- team B puts a fake aws.tag event on the hub bus:")
	ev := `{"version":"0","service":"ec2","resource-type":"vpc","changed-tag-keys":["jenkins-agents"],"tags":{"jenkins-agents":"true"}}`
	out, err := eventbridge.NewFromConfig(localstack.AdminConfig(d.s.URL, d.s.Region, teamB.Account)).PutEvents(d.ctx, &eventbridge.PutEventsInput{
		Entries: []ebtypes.PutEventsRequestEntry{{EventBusName: aws.String(arn.EventBus(d.s.Region, d.s.Hub, d.s.Parameters["EventBusName"])),
			Source: aws.String("aws.tag"), DetailType: aws.String("Tag Change on Resource"), Detail: aws.String(ev),
			Resources: []string{arn.VPC(d.s.Region, sandbox.Account, sandbox.VPC)}}}})
	if err != nil {
		return err
	}
	if out.FailedEntryCount != 1 {
		return errors.New("EventBridge accepted a forged aws.tag event")
	}
	d.say("  EventBridge refuses it: %s", aws.ToString(out.Entries[0].ErrorCode))
	// 2. Invoked directly (someone with lambda:InvokeFunction): the function refuses it.
	d.say("- the same event invoked on OnboardFunction directly, account 333333333333 claiming %s's VPC:", sandbox.Account)
	forged := fmt.Sprintf(`{"version":"0","id":"forged","detail-type":"Tag Change on Resource","source":"aws.tag","account":"%s","time":"%s","region":"%s","resources":["%s"],"detail":%s}`,
		teamB.Account, time.Now().UTC().Format(time.RFC3339), d.s.Region, arn.VPC(d.s.Region, sandbox.Account, sandbox.VPC), ev)
	mark := len(d.s.Log("OnboardFunction"))
	res, err := d.s.Invoke(d.ctx, "OnboardFunction", []byte(forged))
	if err != nil {
		return err
	}
	refusal := ""
	sc := bufio.NewScanner(strings.NewReader(d.s.Log("OnboardFunction")[mark:]))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "refused") {
			refusal = sc.Text()
		}
	}
	if refusal == "" || res.Error != nil {
		return fmt.Errorf("the forged event was not refused (answer %q)", res.Payload)
	}
	d.say("  refused, not retried: %s", refusal)

	// 3. An endpoint from an untagged VPC: acceptance gates even when the service is wide open.
	d.say("- a hub admin opens the service to everyone (principal \"*\"); team A creates an endpoint")
	d.say("  by hand in its untagged VPC %s:", sandbox.VPC)
	hub, member := d.s.EC2(d.s.Hub), d.s.EC2(sandbox.Account)
	service := aws.String(d.s.Parameters["EndpointServiceId"])
	if _, err := hub.ModifyVpcEndpointServicePermissions(d.ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: service, AddAllowedPrincipals: []string{"*"}}); err != nil {
		return err
	}
	d.s.Later() // the new permission reaches the member's view of the service a moment later
	ep, err := member.CreateVpcEndpoint(d.ctx, &ec2.CreateVpcEndpointInput{VpcId: aws.String(sandbox.VPC), VpcEndpointType: ec2types.VpcEndpointTypeInterface,
		ServiceName: aws.String("com.amazonaws.vpce." + d.s.Region + "." + aws.ToString(service)), SubnetIds: []string{"subnet-0a000000000000021"},
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeVpcEndpoint, Tags: []ec2types.Tag{{Key: aws.String("jenkins-agent-vpcs:managed"), Value: aws.String("true")}}}}})
	if err != nil {
		return err
	}
	id := aws.ToString(ep.VpcEndpoint.VpcEndpointId)
	if err := d.settle(); err != nil {
		return err
	}
	d.s.Later() // the rejection shows in describes a moment later
	state, err := d.s.Connection(d.ctx, id)
	if err != nil {
		return err
	}
	d.say("  connection notification -> AcceptFunction: %s is %s (it even wore the managed tag)", id, state)
	if !strings.EqualFold(state, "rejected") {
		return fmt.Errorf("endpoint %s from an untagged VPC is %s, want rejected", id, state)
	}
	if _, err := hub.ModifyVpcEndpointServicePermissions(d.ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: service, RemoveAllowedPrincipals: []string{"*"}}); err != nil {
		return err
	}
	if _, err := member.DeleteVpcEndpoints(d.ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id}}); err != nil {
		return err
	}
	d.say("  (the admin closes the service again and team A deletes its endpoint)")
	return d.settle()
}

func (d *demo) untag() error {
	for _, v := range []localstack.AgentVPC{teamA, teamB} {
		d.say("$ AWS_ACCESS_KEY_ID=%s aws ec2 delete-tags --resources %s --tags Key=jenkins-agents", v.Account, v.VPC)
		if err := d.s.Tag(d.ctx, v, false); err != nil {
			return err
		}
	}
	if err := d.settle(); err != nil {
		return err
	}
	d.s.Later() // look a moment later, past EC2's consistency window
	d.say("")
	st, err := d.table()
	if err != nil {
		return err
	}
	for _, v := range []localstack.AgentVPC{teamA, teamB} {
		if !st[v].Clean() || st[v].Principal {
			return fmt.Errorf("%s not cleaned up: %+v", v, st[v])
		}
	}
	out, err := d.s.SSM(d.s.Hub).GetParametersByPath(d.ctx, &ssm.GetParametersByPathInput{Path: aws.String(d.s.Parameters["ParameterPrefix"]), Recursive: aws.Bool(true)})
	if err != nil {
		return err
	}
	d.say("")
	d.say("parameters left under %s: %d; principals left on the service: none", d.s.Parameters["ParameterPrefix"], len(out.Parameters))
	if len(out.Parameters) != 0 {
		return errors.New("parameters left behind")
	}
	return nil
}

func (d *demo) summary() error {
	fmt.Fprintf(d.w, "\n== Done in %s\n", time.Since(d.start).Round(time.Millisecond))
	tw := tabwriter.NewWriter(d.w, 0, 4, 2, ' ', 0)
	for i, st := range d.steps {
		fmt.Fprintf(tw, "   %d.\t%s\t%s\n", i+1, st.name, st.took.Round(time.Millisecond))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	counts := map[string][2]int{}
	for _, inv := range d.s.Invocations() {
		c := counts[inv.Function]
		c[0]++
		if inv.Failed() {
			c[1]++
		}
		counts[inv.Function] = c
	}
	ids := make([]string, 0, len(d.s.Functions))
	for id := range d.s.Functions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	fmt.Fprintln(d.w)
	peak := d.s.PeakConcurrency()
	tw = tabwriter.NewWriter(d.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "   FUNCTION\tINVOCATIONS\tFAILED (retried)\tPEAK CONCURRENCY")
	for _, id := range ids {
		fmt.Fprintf(tw, "   %s\t%d\t%d\t%d\n", id, counts[id][0], counts[id][1], peak[id])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	depths, err := d.s.DeadLetterDepths(d.ctx)
	if err != nil {
		return err
	}
	queues := slices.Sorted(maps.Keys(depths))
	fmt.Fprintln(d.w)
	tw = tabwriter.NewWriter(d.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "   DEAD-LETTER QUEUE\tMESSAGES")
	for _, q := range queues {
		fmt.Fprintf(tw, "   %s\t%d\n", q, depths[q])
	}
	return tw.Flush()
}

// indent prefixes the invocation trace so that it reads as a side note.
type indent struct{ w io.Writer }

func (i indent) Write(p []byte) (int, error) {
	_, err := fmt.Fprint(i.w, "   "+string(p))
	return len(p), err
}
