package templates

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sample uses both short and long intrinsic forms, Globals, an !If statement and an
// attached policy resource.
const sample = `
Transform: AWS::Serverless-2016-10-31
Parameters:
  Prefix:
    Type: String
    Default: /p
    Description: where
  Mode:
    Type: String
    AllowedValues: [a, b]
  Secret:
    Type: String
    NoEcho: true
Conditions:
  HasExtra: !Not [!Equals [!Ref Mode, a]]
Globals:
  Function:
    Runtime: provided.al2023
    Environment:
      Variables:
        SHARED: !Ref Prefix
        OVERRIDDEN: global
Resources:
  ShortRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          Effect: Allow
          Principal: { Service: lambda.amazonaws.com }
          Action: sts:AssumeRole
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: [ssm:GetParameters, ssm:PutParameter]
                Resource: !Sub arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${Prefix}/*
              - !If
                - HasExtra
                - Effect: Allow
                  Action: sts:AssumeRole
                  Resource: !Ref Mode
                  Condition:
                    StringEquals:
                      aws:ResourceOrgID: [o-1, o-2]
                - !Ref AWS::NoValue
              - Effect: Deny
                Action: ssm:DeleteParameter
                Resource: "*"
  LongRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - Effect: Allow
            Principal: "*"
            Action: sts:AssumeRole
  Attached:
    Type: AWS::IAM::Policy
    Properties:
      Roles: [{ Ref: LongRole }]
      PolicyDocument:
        Statement:
          - Effect: Allow
            Action: events:PutEvents
            Resource:
              - Fn::GetAtt: [Bus, Arn]
              - Fn::Sub:
                  - arn:x:${Id}
                  - Id: !Ref Bus
  Bus:
    Type: AWS::Events::EventBus
  Short:
    Type: AWS::Serverless::Function
    Properties:
      Role: !GetAtt ShortRole.Arn
      Environment:
        Variables:
          OWN: "1"
          OVERRIDDEN: !Sub ${Prefix}/x
          PICK: !If [HasExtra, !Ref Mode, !Ref AWS::NoValue]
  Long:
    Type: AWS::Lambda::Function
    Properties:
      Role:
        Fn::GetAtt: [LongRole, Arn]
  External:
    Type: AWS::Serverless::Function
    Properties:
      Role: arn:aws:iam::111111111111:role/elsewhere
`

func parseSample(t *testing.T) *Template {
	t.Helper()
	tpl, err := Parse([]byte(sample))
	if err != nil {
		t.Fatalf("parsing sample: %v", err)
	}
	return tpl
}

func TestFunctionRolesResolveShortAndLongGetAtt(t *testing.T) {
	tpl := parseSample(t)
	if got, want := tpl.Functions(), []string{"Short", "Long", "External"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Functions() = %v, want %v", got, want)
	}
	want := map[string]string{"Short": "ShortRole", "Long": "LongRole"}
	if got := tpl.FunctionRoles(); !reflect.DeepEqual(got, want) {
		t.Errorf("FunctionRoles() = %v, want %v (a role outside the template is left out)", got, want)
	}
}

func TestEnvMergesGlobalsForSAMFunctionsOnly(t *testing.T) {
	tpl := parseSample(t)
	want := map[string]string{
		"SHARED":     "!Ref Prefix",
		"OVERRIDDEN": "${Prefix}/x",
		"OWN":        "1",
		"PICK":       "!If [HasExtra, !Ref Mode, !Ref AWS::NoValue]",
	}
	if got := tpl.Env("Short"); !reflect.DeepEqual(got, want) {
		t.Errorf("Env(Short) = %v, want %v", got, want)
	}
	if got := tpl.Env("Long"); len(got) != 0 {
		t.Errorf("Env(Long) = %v, want empty: Globals apply to SAM functions only", got)
	}
	if got := tpl.Env("Bus"); got != nil {
		t.Errorf("Env(Bus) = %v, want nil for a resource that is not a function", got)
	}
}

func TestGrantsReadInlineIfBranchesAndAttachedPolicies(t *testing.T) {
	tpl := parseSample(t)
	want := []Grant{
		{Action: "ssm:GetParameters", Resources: []string{"arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${Prefix}/*"}},
		{Action: "ssm:PutParameter", Resources: []string{"arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${Prefix}/*"}},
		{Action: "sts:AssumeRole", Resources: []string{"!Ref Mode"}, HasCondition: true},
	}
	if got := tpl.Grants("ShortRole"); !reflect.DeepEqual(got, want) {
		t.Errorf("Grants(ShortRole) =\n%+v\nwant\n%+v", got, want)
	}
	policy := tpl.Policy("ShortRole")
	if len(policy) != 3 || policy[1].If != "HasExtra" || policy[2].Effect != "Deny" {
		t.Errorf("Policy(ShortRole) = %+v, want 3 statements (the NoValue branch is none), the !If branch marked HasExtra, the Deny kept", policy)
	}
	if got := policy[1].Conditions["StringEquals"]["aws:ResourceOrgID"]; !reflect.DeepEqual(got, []string{"o-1", "o-2"}) {
		t.Errorf("condition values = %v", got)
	}
	wantLong := []Grant{{Action: "events:PutEvents", Resources: []string{"!GetAtt Bus.Arn", "arn:x:${Id}"}}}
	if got := tpl.Grants("LongRole"); !reflect.DeepEqual(got, wantLong) {
		t.Errorf("Grants(LongRole) = %+v, want %+v (from the attached AWS::IAM::Policy)", got, wantLong)
	}
	if got := tpl.Actions("ShortRole"); !reflect.DeepEqual(got, []string{"ssm:GetParameters", "ssm:PutParameter", "sts:AssumeRole"}) {
		t.Errorf("Actions(ShortRole) = %v", got)
	}
}

func TestTrustReadsPrincipals(t *testing.T) {
	tpl := parseSample(t)
	short := tpl.Trust("ShortRole")
	if len(short) != 1 || !reflect.DeepEqual(short[0].Principals, map[string][]string{"Service": {"lambda.amazonaws.com"}}) {
		t.Errorf("Trust(ShortRole) = %+v (a single statement mapping, not a list)", short)
	}
	long := tpl.Trust("LongRole")
	if len(long) != 1 || !reflect.DeepEqual(long[0].Principals, map[string][]string{"*": {"*"}}) {
		t.Errorf("Trust(LongRole) = %+v", long)
	}
}

func TestParameters(t *testing.T) {
	tpl := parseSample(t)
	want := []Parameter{
		{Name: "Prefix", Type: "String", Default: "/p", HasDefault: true, Description: "where"},
		{Name: "Mode", Type: "String", AllowedValues: []string{"a", "b"}},
		{Name: "Secret", Type: "String", NoEcho: true},
	}
	if got := tpl.Parameters(); !reflect.DeepEqual(got, want) {
		t.Errorf("Parameters() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestText(t *testing.T) {
	cases := map[string]string{
		`v: plain`:                          "plain",
		`v: !Ref X`:                         "!Ref X",
		`v: {Ref: X}`:                       "!Ref X",
		`v: !GetAtt X.Arn`:                  "!GetAtt X.Arn",
		`v: !GetAtt [X, Arn]`:               "!GetAtt X.Arn",
		`v: {"Fn::GetAtt": [X, Arn]}`:       "!GetAtt X.Arn",
		`v: !Sub "a${B}"`:                   "a${B}",
		`v: {"Fn::Sub": ["a${B}", {B: c}]}`: "a${B}",
		`v: !Join [",", [!Ref A, b]]`:       "!Join [,, [!Ref A, b]]",
		`v: [a, !Ref B]`:                    "[a, !Ref B]",
		`v: {k: !Ref B}`:                    "{k: !Ref B}",
		`v: !Select [0, !GetAZs ""]`:        "!Select [0, !GetAZs ]",
	}
	for in, want := range cases {
		tpl, err := Parse([]byte("Resources:\n  R:\n    Type: T\n    Properties:\n      " + in + "\n"))
		if err != nil {
			t.Fatalf("parsing %q: %v", in, err)
		}
		if got, _ := tpl.Property("R", "v"); got != want {
			t.Errorf("Text(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRefusesWhatIsNotATemplate(t *testing.T) {
	cases := map[string]string{
		"not yaml":          "Resources: [unclosed",
		"not a mapping":     "- a\n- b\n",
		"no resources":      "Parameters: {}\n",
		"resource no type":  "Resources:\n  R:\n    Properties: {}\n",
		"resource a scalar": "Resources:\n  R: x\n",
	}
	for name, in := range cases {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("%s: Parse succeeded, want an error", name)
		}
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(path, []byte("Parameters: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Load(%s) error = %v, want one naming the file", path, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}
