// Package templates reads the product's CloudFormation/SAM templates (template.yaml and
// member-template.yaml) as data, so that tests can hold them to the security model and keep
// them in step with the code: which role each function runs as, what each role grants, what
// each function's environment is, and which events reach which function.
//
// Templates are decoded into yaml.Node trees, so CloudFormation's short-form tags (!Ref, !Sub,
// !GetAtt, !If, ...) parse as well as the long forms (Ref, Fn::Sub, ...). Nothing is resolved:
// values come back as raw text. A !Sub comes back as its template string
// ("arn:${AWS::Partition}:iam::*:role/${SpokeRoleName}"); any other intrinsic in short form
// ("!Ref TagKey", "!GetAtt EventBus.Arn", "!If [Cond, !Ref A, !Ref B]").
package templates
