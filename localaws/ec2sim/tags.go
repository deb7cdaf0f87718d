package ec2sim

import (
	"maps"
	"sort"
	"strings"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// tagged is a resource as CreateTags/DeleteTags see it.
type tagged struct {
	id, resourceType, arn string
	tags                  map[string]string
	log                   *tagLog
}

// taggable finds a resource of the caller's account/Region by id.
func (o *op) taggable(id string) (tagged, error) {
	r := o.r
	t := tagged{id: id}
	var found bool
	switch {
	case strings.HasPrefix(id, "vpc-"):
		t.resourceType = "vpc"
		if v := r.vpcs[id]; v != nil {
			t.tags, t.log, found = v.tags, &v.tagLog, true
		} else {
			return t, vpcNotFound(id)
		}
	case strings.HasPrefix(id, "subnet-"):
		t.resourceType = "subnet"
		if sn := r.subnets[id]; sn != nil {
			t.tags, t.log, found = sn.tags, &sn.tagLog, true
		} else {
			return t, subnetNotFound(id)
		}
	case strings.HasPrefix(id, "sg-"):
		t.resourceType = "security-group"
		if g := o.group(id); g != nil {
			t.tags, t.log, found = g.tags, &g.tagLog, true
		} else {
			return t, groupNotFound(id)
		}
	case strings.HasPrefix(id, "vpce-svc-"):
		t.resourceType = "vpc-endpoint-service"
		if es := r.services[id]; es != nil {
			t.tags, t.log, found = es.tags, &es.tagLog, true
		} else {
			return t, serviceIDNotFound(id)
		}
	case strings.HasPrefix(id, "vpce-"):
		t.resourceType = "vpc-endpoint"
		if e := o.endpoint(id); e != nil {
			t.tags, t.log, found = e.tags, &e.tagLog, true
		} else {
			return t, endpointNotFound(id)
		}
	}
	if !found {
		return t, awsproto.Errorf("InvalidID", "The ID '%s' is not valid", id)
	}
	t.arn = "arn:aws:ec2:" + r.name + ":" + r.account + ":" + t.resourceType + "/" + id
	return t, nil
}

func (o *op) tagTargets() ([]string, []tagged, error) {
	ids := o.list("ResourceId")
	if len(ids) == 0 {
		return nil, nil, awsproto.Errorf("MissingParameter", "The request must contain the parameter resourceIdSet")
	}
	var out []tagged
	for _, id := range ids {
		t, err := o.taggable(id)
		if err != nil {
			return ids, nil, err
		}
		out = append(out, t)
	}
	return ids, out, nil
}

func (o *op) createTags() ([]byte, error) {
	pairs := o.tagPairs("Tag")
	ids, targets, err := o.tagTargets()
	if err == nil && len(pairs) == 0 {
		err = awsproto.Errorf("MissingParameter", "The request must contain the parameter tagSet")
	}
	for _, p := range pairs {
		if err == nil {
			err = validateTag(p.Key, p.Value)
		}
	}
	if err == nil {
		for _, t := range targets {
			n := len(t.tags)
			for _, p := range pairs {
				if _, ok := t.tags[p.Key]; !ok {
					n++
				}
			}
			if n > maxTags {
				err = awsproto.Errorf("TagLimitExceeded", "The maximum number of tags per resource (%d) has been exceeded for %s", maxTags, t.id)
				break
			}
		}
	}
	o.cloudTrail(tagParams(ids, pairs), nil, err)
	if err != nil {
		return nil, err
	}
	var keys []string
	seen := map[string]bool{}
	for _, p := range pairs {
		if !seen[p.Key] {
			seen[p.Key] = true
			keys = append(keys, p.Key)
		}
	}
	sort.Strings(keys)
	for _, t := range targets {
		before := maps.Clone(t.tags)
		for _, p := range pairs {
			t.tags[p.Key] = p.Value
		}
		o.recordTags(t, before)
		o.tagChange(t, keys)
	}
	return o.returnTrue(), nil
}

func (o *op) deleteTags() ([]byte, error) {
	pairs := o.tagPairs("Tag")
	ids, targets, err := o.tagTargets()
	o.cloudTrail(tagParams(ids, pairs), nil, err)
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		before := maps.Clone(t.tags)
		var removed []string
		if len(pairs) == 0 {
			// No Tag.N: every tag goes (but not aws: ones, which we never set).
			removed = sortedKeys(t.tags)
			clear(t.tags)
		}
		for _, p := range pairs {
			v, ok := t.tags[p.Key]
			if !ok || (p.hasValue && v != p.Value) {
				continue
			}
			delete(t.tags, p.Key)
			removed = append(removed, p.Key)
		}
		if len(removed) > 0 {
			sort.Strings(removed)
			o.recordTags(t, before)
			o.tagChange(t, removed)
		}
	}
	return o.returnTrue(), nil
}

// recordTags makes a tag change visible late when consistency is on.
func (o *op) recordTags(t tagged, before map[string]string) {
	if o.s.cons.window > 0 {
		t.log.record(o.now, o.visibleFrom(), before, maps.Clone(t.tags))
	}
}

func tagParams(ids []string, pairs []tagPair) map[string]any {
	resources := make([]any, 0, len(ids))
	for _, id := range ids {
		resources = append(resources, map[string]any{"resourceId": id})
	}
	params := map[string]any{"resourcesSet": map[string]any{"items": resources}}
	if len(pairs) > 0 {
		params["tagSet"] = map[string]any{"items": cloudTrailTags(pairs)}
	}
	return params
}

// tagChange emits AWS's "Tag Change on Resource" event: the changed keys
// and the complete tag set after the change.
func (o *op) tagChange(t tagged, changed []string) {
	detail := map[string]any{
		"changed-tag-keys": changed,
		"service":          "ec2",
		"resource-type":    t.resourceType,
		"version":          4,
		"tags":             maps.Clone(t.tags),
	}
	o.event("aws.tag", "Tag Change on Resource", []string{t.arn}, detail)
}
