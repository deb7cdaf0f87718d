package sqssim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// SQS still serves its query protocol (form-encoded requests, XML
// answers), which SDKs and CLIs released before SQS's JSON protocol (AWS
// What's New, November 2023, "Amazon SQS support for JSON protocol") speak:
// Debian's AWS CLI v2, for one. The local SQS answers it by translating the
// form into the JSON input (QueryBody) and the JSON output into the XML
// answer (QueryAnswer), so one implementation serves both.

// queryLists are the query protocol's flattened members and their JSON
// names; map members (Name/Value or Key/Value pairs) become JSON objects.
var queryLists = map[string]string{
	"AttributeName":              "AttributeNames",
	"MessageSystemAttributeName": "MessageSystemAttributeNames",
	"MessageAttributeName":       "MessageAttributeNames",
}

// queryInts are the members that are integers in the JSON protocol.
var queryInts = map[string]bool{"DelaySeconds": true, "MaxNumberOfMessages": true, "VisibilityTimeout": true, "WaitTimeSeconds": true, "MaxResults": true}

// QueryBody is the JSON input of a query-protocol SQS request.
func QueryBody(form url.Values) ([]byte, *awsproto.Error) {
	tree := map[string]any{}
	for key, vs := range form {
		if key == "Action" || key == "Version" || len(vs) == 0 {
			continue
		}
		node := tree
		parts := strings.Split(key, ".")
		for _, p := range parts[:len(parts)-1] {
			next, ok := node[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				node[p] = next
			}
			node = next
		}
		node[parts[len(parts)-1]] = vs[0]
	}
	b, err := json.Marshal(queryObject(tree))
	if err != nil {
		return nil, awsproto.Errorf("MalformedQueryString", "The query string is malformed: %v", err)
	}
	return b, nil
}

// queryObject turns one level of the parsed form into its JSON shape.
func queryObject(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		switch {
		case k == "Attribute" || k == "Tag":
			pairs := map[string]any{}
			for _, e := range indexed(v) {
				em, _ := e.(map[string]any)
				name, _ := em["Name"].(string)
				if k == "Tag" {
					name, _ = em["Key"].(string)
				}
				pairs[name] = em["Value"]
			}
			out[map[string]string{"Attribute": "Attributes", "Tag": "tags"}[k]] = pairs
		case k == "MessageAttribute":
			attrs := map[string]any{}
			for _, e := range indexed(v) {
				em, _ := e.(map[string]any)
				name, _ := em["Name"].(string)
				val, _ := em["Value"].(map[string]any)
				attrs[name] = val
			}
			out["MessageAttributes"] = attrs
		case queryLists[k] != "":
			out[queryLists[k]] = indexed(v)
		case strings.HasSuffix(k, "BatchRequestEntry"):
			var entries []any
			for _, e := range indexed(v) {
				em, _ := e.(map[string]any)
				entries = append(entries, queryObject(em))
			}
			out["Entries"] = entries
		case queryInts[k]:
			s, _ := v.(string)
			if n, err := strconv.Atoi(s); err == nil {
				out[k] = n
			} else {
				out[k] = v
			}
		default:
			out[k] = v
		}
	}
	return out
}

// indexed is a member.N list in index order.
func indexed(v any) []any {
	m, _ := v.(map[string]any)
	keys := make([]int, 0, len(m))
	for k := range m {
		if n, err := strconv.Atoi(k); err == nil {
			keys = append(keys, n)
		}
	}
	sort.Ints(keys)
	out := make([]any, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[strconv.Itoa(k)])
	}
	return out
}

// QueryAnswer is the XML answer of a query-protocol SQS request whose JSON
// answer is out: SQS's flattened lists (Attribute, Message, QueueUrl,
// MessageAttribute, the batch result entries).
func QueryAnswer(action, requestID string, out []byte) ([]byte, error) {
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, fmt.Errorf("reading the answer of %s, %w", action, err)
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0"?><` + action + `Response xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><` + action + `Result>`)
	writeQueryMembers(&b, action, v)
	b.WriteString(`</` + action + `Result><ResponseMetadata><RequestId>` + requestID + `</RequestId></ResponseMetadata></` + action + `Response>`)
	return b.Bytes(), nil
}

func writeQueryMembers(b *bytes.Buffer, action string, v map[string]any) {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch val := v[k].(type) {
		case map[string]any:
			writeQueryMap(b, k, val)
		case []any:
			name := map[string]string{"Messages": "Message", "QueueUrls": "QueueUrl", "Failed": "BatchResultErrorEntry",
				"Successful": action + "ResultEntry"}[k]
			for _, e := range val {
				if em, ok := e.(map[string]any); ok {
					b.WriteString("<" + name + ">")
					writeQueryMembers(b, action, em)
					b.WriteString("</" + name + ">")
				} else {
					writeQueryElement(b, name, e)
				}
			}
		default:
			writeQueryElement(b, k, val)
		}
	}
}

// writeQueryMap writes Attributes and MessageAttributes as flattened
// Name/Value pairs.
func writeQueryMap(b *bytes.Buffer, k string, m map[string]any) {
	name := map[string]string{"Attributes": "Attribute", "MessageAttributes": "MessageAttribute"}[k]
	keys := make([]string, 0, len(m))
	for n := range m {
		keys = append(keys, n)
	}
	sort.Strings(keys)
	for _, n := range keys {
		b.WriteString("<" + name + "><Name>")
		awsproto.WriteXMLText(b, n)
		b.WriteString("</Name>")
		if vm, ok := m[n].(map[string]any); ok {
			b.WriteString("<Value>")
			writeQueryMembers(b, "", vm)
			b.WriteString("</Value>")
		} else {
			writeQueryElement(b, "Value", m[n])
		}
		b.WriteString("</" + name + ">")
	}
}

func writeQueryElement(b *bytes.Buffer, name string, v any) {
	b.WriteString("<" + name + ">")
	awsproto.WriteXMLText(b, fmt.Sprint(v))
	b.WriteString("</" + name + ">")
}
