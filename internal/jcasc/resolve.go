package jcasc

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"gopkg.in/yaml.v3"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/awserr"
)

// How configuration-as-code resolves `${...}` in a value
// (configuration-as-code-plugin, plugin/src/main/java/io/jenkins/plugins/casc/SecretSourceResolver.java,
// FixedInterpolatorStringLookup.java; docs/features/secrets.adoc), the
// parts the generated file can meet:
//   - `${` opens a variable, the matching `}` closes it; variables nest and
//     the inner ones are resolved first (setEnableSubstitutionInVariables);
//   - `^${` is an escape: the text stays, without the `^`;
//   - `name:-default` gives a default for an unresolved name;
//   - when the name has a ':' and the part before the first ':' is one of
//     the plugin's lookups (base64, readFile, json, ...), that lookup gets
//     the rest; otherwise the whole name goes to the secret sources, the
//     first that reveals a value wins;
//   - a resolved value is itself resolved (Apache commons-text
//     StringSubstitutor substitutes in values);
//   - an unresolved name is an empty string, or under
//     CASC_STRICT_SECRET_RESOLUTION the reload fails. Resolve is strict:
//     a file that needs an empty tunnel is a broken file.
const (
	varOpen    = "${"
	varClose   = "}"
	escapeChar = '^'
	defaultSep = ":-"
)

// lookups are the plugin's own lookup prefixes (SecretSourceResolver's
// map), matched case-insensitively as FixedInterpolatorStringLookup does.
var lookups = map[string]bool{"base64": true, "filebase64": true, "readfilebase64": true, "file": true,
	"readfile": true, "sysprop": true, "decodebase64": true, "json": true, "trim": true}

// Source reveals a secret: ok is false when it has none by that name.
type Source func(ctx context.Context, key string) (value string, ok bool, err error)

// GetParameterAPI is the call the secret-ssm plugin makes.
type GetParameterAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

var _ GetParameterAPI = (*ssm.Client)(nil)

// SSMSource is the secret-ssm plugin (AwsSsmSecretSource.reveal):
// GetParameter(prefix + key, WithDecryption=true); ParameterNotFound is
// "no such secret". The plugin logs any other error and reveals nothing;
// here the error is returned, as it is what an operator needs to see
// (a controller role without ssm:GetParameter on the prefix, say).
func SSMSource(client GetParameterAPI, prefix string) Source {
	return func(ctx context.Context, key string) (string, bool, error) {
		out, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(prefix + key), WithDecryption: aws.Bool(true)})
		if awserr.IsNotFound(err) {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("reading parameter %s, %w", prefix+key, err)
		}
		return aws.ToString(out.Parameter.Value), true, nil
	}
}

// Resolve resolves every `${...}` of s through the sources, in order.
func Resolve(ctx context.Context, s string, sources ...Source) (string, error) {
	r := resolver{ctx: ctx, sources: sources}
	return r.text(s, 0)
}

type resolver struct {
	ctx     context.Context
	sources []Source
}

// maxDepth bounds values that resolve to references to themselves.
const maxDepth = 16

func (r resolver) text(s string, depth int) (string, error) {
	if depth > maxDepth {
		return "", fmt.Errorf("references nest deeper than %d in %q", maxDepth, s)
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case s[i] == escapeChar && strings.HasPrefix(s[i+1:], varOpen):
			end := closing(s, i+1+len(varOpen))
			if end < 0 {
				end = len(s) - len(varClose)
			}
			b.WriteString(s[i+1 : end+len(varClose)])
			i = end + len(varClose)
		case strings.HasPrefix(s[i:], varOpen):
			end := closing(s, i+len(varOpen))
			if end < 0 { // no closing brace: not a variable
				b.WriteString(s[i:])
				return b.String(), nil
			}
			v, err := r.variable(s[i+len(varOpen):end], depth)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i = end + len(varClose)
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), nil
}

// closing is the index of the `}` that closes a variable whose name
// starts at from, counting nested `${`; -1 when there is none.
func closing(s string, from int) int {
	depth := 0
	for i := from; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], varOpen):
			depth++
			i += len(varOpen) - 1
		case strings.HasPrefix(s[i:], varClose):
			if depth == 0 {
				return i
			}
			depth--
		}
	}
	return -1
}

func (r resolver) variable(raw string, depth int) (string, error) {
	name, err := r.text(raw, depth+1)
	if err != nil {
		return "", err
	}
	name, def, hasDefault := strings.Cut(name, defaultSep)
	if prefix, _, ok := strings.Cut(name, ":"); ok && lookups[strings.ToLower(prefix)] {
		return "", fmt.Errorf("${%s} uses configuration-as-code's %s lookup, which the generated file never does", name, prefix)
	}
	for _, src := range r.sources {
		v, ok, err := src(r.ctx, name)
		if err != nil {
			return "", err
		}
		if ok {
			return r.text(v, depth+1)
		}
	}
	if hasDefault {
		return def, nil
	}
	return "", fmt.Errorf("unable to resolve variable %q", name)
}

// ResolveYAML resolves every string value of a configuration-as-code file
// and returns the file as Jenkins would apply it.
func ResolveYAML(ctx context.Context, doc []byte, sources ...Source) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("reading the configuration, %w", err)
	}
	r := resolver{ctx: ctx, sources: sources}
	if err := r.node(&root); err != nil {
		return nil, err
	}
	out, err := yaml.Marshal(&root)
	if err != nil {
		return nil, fmt.Errorf("encoding the resolved configuration, %w", err)
	}
	return out, nil
}

func (r resolver) node(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		v, err := r.text(n.Value, 0)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		n.Value = v
		return nil
	}
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 {
			continue // keys are names, not values
		}
		if err := r.node(c); err != nil {
			return err
		}
	}
	return nil
}
