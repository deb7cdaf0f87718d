package ec2sim

import (
	"encoding/hex"
	"math/rand/v2"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// DeletedRetention is how long a deleted endpoint (and its connection)
// stays visible in describes after its deletion completed.
const DeletedRetention = time.Hour

const xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/"

// Service is the EC2 of every account and Region of the local AWS.
type Service struct {
	clock awsproto.Clock
	sink  awsproto.Sink

	cons consistency

	mu      sync.RWMutex
	delay   time.Duration
	rng     *rand.Rand
	regions map[regionKey]*region
	// services indexes endpoint services across accounts: consumers name
	// them by service name, owners by id.
	servicesByName map[string]*endpointService
	servicesByID   map[string]*endpointService
}

type regionKey struct{ account, region string }

// region is one account's EC2 in one Region.
type region struct {
	account, name string
	vpcs          map[string]*vpc
	subnets       map[string]*subnet
	groups        map[string]*securityGroup
	endpoints     map[string]*endpoint
	services      map[string]*endpointService
	notifications map[string]*notification
	tokens        map[string]*endpoint // CreateVpcEndpoint ClientToken -> endpoint
	azOffset      int
}

// New returns an empty EC2 that reads time from clock and emits what AWS
// would emit to sink (nil sink: nothing is emitted).
func New(clock awsproto.Clock, sink awsproto.Sink) *Service {
	return &Service{
		clock:          clock,
		sink:           sink,
		rng:            rand.New(rand.NewPCG(0x6563327369, 0x6d)),
		regions:        map[regionKey]*region{},
		servicesByName: map[string]*endpointService{},
		servicesByID:   map[string]*endpointService{},
	}
}

// SetTransitionDelay sets the time, on the Clock, an endpoint spends in
// pending (after create without acceptance, or after accept) and in
// deleting.
func (s *Service) SetTransitionDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// region returns the state of account/region, creating it when create is
// true (nil otherwise when absent).
func (s *Service) region(account, name string, create bool) *region {
	k := regionKey{account, name}
	r := s.regions[k]
	if r == nil && create {
		r = &region{
			account:       account,
			name:          name,
			vpcs:          map[string]*vpc{},
			subnets:       map[string]*subnet{},
			groups:        map[string]*securityGroup{},
			endpoints:     map[string]*endpoint{},
			services:      map[string]*endpointService{},
			notifications: map[string]*notification{},
			tokens:        map[string]*endpoint{},
			azOffset:      azOffset(account, name),
		}
		s.regions[k] = r
	}
	return r
}

// newID returns prefix followed by 17 hex digits, as EC2 ids are.
func (s *Service) newID(prefix string) string {
	var b [8]byte
	v := s.rng.Uint64()
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return prefix + "0" + hex.EncodeToString(b[:])
}

// randomLabel returns n lowercase alphanumerics (the DNS label suffix of
// endpoint names).
func (s *Service) randomLabel(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[s.rng.IntN(len(alphabet))]
	}
	return string(b)
}

// op is one call in progress: its input, its Region, and what it will
// emit once the lock is released.
type op struct {
	s      *Service
	call   *awsproto.Call
	form   url.Values
	r      *region // the caller's account/Region (nil for a read of an unknown one)
	now    time.Time
	outbox []func(awsproto.Sink)
	stale  bool // the call was answered with state older than the truth
}

func (o *op) emit(f func(awsproto.Sink)) { o.outbox = append(o.outbox, f) }

type action struct {
	run      func(o *op) ([]byte, error)
	readOnly bool
}

var actions = map[string]action{
	"DescribeVpcs":                               {(*op).describeVpcs, true},
	"CreateVpc":                                  {(*op).createVpc, false},
	"DeleteVpc":                                  {(*op).deleteVpc, false},
	"DescribeSubnets":                            {(*op).describeSubnets, true},
	"CreateSubnet":                               {(*op).createSubnet, false},
	"DeleteSubnet":                               {(*op).deleteSubnet, false},
	"DescribeSecurityGroups":                     {(*op).describeSecurityGroups, true},
	"CreateSecurityGroup":                        {(*op).createSecurityGroup, false},
	"DeleteSecurityGroup":                        {(*op).deleteSecurityGroup, false},
	"AuthorizeSecurityGroupIngress":              {(*op).authorizeIngress, false},
	"RevokeSecurityGroupIngress":                 {(*op).revokeIngress, false},
	"DescribeSecurityGroupRules":                 {(*op).describeSecurityGroupRules, true},
	"CreateTags":                                 {(*op).createTags, false},
	"DeleteTags":                                 {(*op).deleteTags, false},
	"DescribeVpcEndpointServiceConfigurations":   {(*op).describeServiceConfigurations, true},
	"CreateVpcEndpointServiceConfiguration":      {(*op).createServiceConfiguration, false},
	"ModifyVpcEndpointServiceConfiguration":      {(*op).modifyServiceConfiguration, false},
	"DeleteVpcEndpointServiceConfigurations":     {(*op).deleteServiceConfigurations, false},
	"DescribeVpcEndpointServicePermissions":      {(*op).describeServicePermissions, true},
	"ModifyVpcEndpointServicePermissions":        {(*op).modifyServicePermissions, false},
	"DescribeVpcEndpointServices":                {(*op).describeEndpointServices, true},
	"CreateVpcEndpointConnectionNotification":    {(*op).createNotification, false},
	"DescribeVpcEndpointConnectionNotifications": {(*op).describeNotifications, true},
	"DeleteVpcEndpointConnectionNotifications":   {(*op).deleteNotifications, false},
	"CreateVpcEndpoint":                          {(*op).createEndpoint, false},
	"DeleteVpcEndpoints":                         {(*op).deleteEndpoints, false},
	"ModifyVpcEndpoint":                          {(*op).modifyEndpoint, false},
	"DescribeVpcEndpoints":                       {(*op).describeEndpoints, true},
	"DescribeVpcEndpointConnections":             {(*op).describeConnections, true},
	"AcceptVpcEndpointConnections":               {(*op).acceptConnections, false},
	"RejectVpcEndpointConnections":               {(*op).rejectConnections, false},
}

// Actions lists every EC2 action Handle implements, sorted.
func (s *Service) Actions() []string {
	names := make([]string, 0, len(actions))
	for name := range actions {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Handle serves one EC2 action and returns the complete XML response
// document, or an *awsproto.Error.
func (s *Service) Handle(call *awsproto.Call) ([]byte, error) {
	a, ok := actions[call.Action]
	if !ok {
		return nil, &awsproto.Error{Code: "InvalidAction", Message: "The action " + call.Action + " is not valid for this web service.", Status: 400}
	}
	if !validAccount(call.Account) {
		return nil, awsproto.Errorf("AuthFailure", "AWS was not able to validate the provided access credentials")
	}
	if strings.EqualFold(call.Form.Get("DryRun"), "true") {
		return nil, &awsproto.Error{Code: "DryRunOperation", Message: "Request would have succeeded, but DryRun flag is set.", Status: 412}
	}
	o := &op{s: s, call: call, form: call.Form, now: s.clock.Now()}
	if o.form == nil {
		o.form = url.Values{}
	}
	var body []byte
	var err error
	if a.readOnly {
		s.mu.RLock()
		o.r = s.region(call.Account, call.Region, false)
		if o.r == nil {
			o.r = emptyRegion(call.Account, call.Region)
		}
		body, err = a.run(o)
		s.mu.RUnlock()
	} else {
		s.mu.Lock()
		o.r = s.region(call.Account, call.Region, true)
		body, err = a.run(o)
		s.mu.Unlock()
	}
	if o.stale {
		s.cons.faults.Add(1)
	}
	if s.sink != nil {
		for _, f := range o.outbox {
			f(s.sink)
		}
	}
	if err != nil {
		return nil, err
	}
	return body, nil
}

// emptyRegion stands in for an account/Region nothing was ever created in,
// so reads need no special case and never allocate shared state.
func emptyRegion(account, name string) *region {
	return &region{account: account, name: name, azOffset: azOffset(account, name)}
}

func validAccount(a string) bool {
	if len(a) != 12 {
		return false
	}
	for _, c := range a {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// requestID returns the call's request id (generated by the front door).
func (o *op) requestID() string {
	if o.call.RequestID != "" {
		return o.call.RequestID
	}
	return "00000000-0000-0000-0000-000000000000"
}

// response starts a response document for the call's action.
func (o *op) response() *xmlWriter {
	w := newXMLWriter()
	w.raw(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<" + o.call.Action + `Response xmlns="` + xmlns + `">`)
	w.elem("requestId", o.requestID())
	return w
}

func (o *op) finish(w *xmlWriter) []byte {
	w.raw("</" + o.call.Action + "Response>")
	return w.bytes()
}

// returnTrue is the body of actions that answer <return>true</return>.
func (o *op) returnTrue() []byte {
	w := o.response()
	w.elem("return", "true")
	return o.finish(w)
}
