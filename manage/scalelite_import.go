package manage

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/bbb-balance/bbb_balance/balancer"
)

// A scalelite pool moves over in one command (`caddy bbb servers import`):
// its servers file is read (ParseScaleliteServers) and the changes that
// make the pool match it are planned (PlanImport), to be carried out one
// by one through the admin API.

// ScaleliteServer is one server of a scalelite servers file, with
// scalelite's defaults filled.
type ScaleliteServer struct {
	ID, URL, Secret, Tag string
	Enabled              bool
	Weight               float64 // load_multiplier
}

var scaleliteID = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// ParseScaleliteServers reads scalelite's servers:sync YAML (what `rake
// servers:yaml` prints),
//
//	servers:
//	  <id>: {secret, url, enabled, load_multiplier, tag}
//
// whose url defaults to https://<id>/bigbluebutton/api, enabled to true and
// load_multiplier to 1, or the older servers:addAll one, a list of {url,
// secret} whose ids are the URLs' host names. Warnings name keys that were
// ignored; errors name the line.
func ParseScaleliteServers(data []byte) (out []ScaleliteServer, warnings []string, err error) {
	var doc struct {
		Servers yaml.Node `yaml:"servers"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("not YAML: %v", err)
	}
	seen := map[string]int{}
	addServer := func(line int, s ScaleliteServer) error {
		if prev, ok := seen[s.ID]; ok {
			return fmt.Errorf("line %d: server %s is already on line %d", line, s.ID, prev)
		}
		seen[s.ID] = line
		out = append(out, s)
		return nil
	}
	n := &doc.Servers
	switch n.Kind {
	case yaml.MappingNode: // servers:sync
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			s, warns, err := parseSyncEntry(k, v)
			if err != nil {
				return nil, nil, err
			}
			warnings = append(warnings, warns...)
			if err := addServer(k.Line, s); err != nil {
				return nil, nil, err
			}
		}
	case yaml.SequenceNode: // servers:addAll
		for _, v := range n.Content {
			var e struct {
				URL    string `yaml:"url"`
				Secret string `yaml:"secret"`
			}
			if err := v.Decode(&e); err != nil {
				return nil, nil, fmt.Errorf("line %d: %v", v.Line, err)
			}
			u, err := url.Parse(e.URL)
			if err != nil || !httpURL(e.URL) {
				return nil, nil, fmt.Errorf("line %d: url %q is not an http(s) URL", v.Line, e.URL)
			}
			if e.Secret == "" {
				return nil, nil, fmt.Errorf("line %d: server %s has no secret", v.Line, u.Hostname())
			}
			if err := addServer(v.Line, ScaleliteServer{ID: u.Hostname(), URL: e.URL, Secret: e.Secret, Enabled: true, Weight: 1}); err != nil {
				return nil, nil, err
			}
		}
	case 0:
		return nil, nil, errors.New(`no "servers:" key; want scalelite's servers:sync (or servers:addAll) format`)
	default:
		return nil, nil, fmt.Errorf(`line %d: "servers:" must map server ids to servers (servers:sync) or list servers (servers:addAll)`, n.Line)
	}
	return out, warnings, nil
}

func parseSyncEntry(k, v *yaml.Node) (ScaleliteServer, []string, error) {
	id := k.Value
	s := ScaleliteServer{ID: id, Enabled: true, Weight: 1}
	if k.Kind != yaml.ScalarNode || !scaleliteID.MatchString(id) {
		return s, nil, fmt.Errorf("line %d: server id %q may only have letters, digits, '_', '.' and '-'", k.Line, id)
	}
	if v.Kind != yaml.MappingNode {
		return s, nil, fmt.Errorf("line %d: server %s: want secret, url, enabled, load_multiplier and tag under it", v.Line, id)
	}
	var warnings []string
	var hasSecret bool
	for i := 0; i+1 < len(v.Content); i += 2 {
		key, val := v.Content[i].Value, v.Content[i+1]
		null := val.Tag == "!!null"
		var err error
		switch key {
		case "secret":
			err = val.Decode(&s.Secret)
			hasSecret = s.Secret != ""
		case "url":
			if !null {
				err = val.Decode(&s.URL)
			}
		case "enabled":
			if !null {
				err = val.Decode(&s.Enabled)
			}
		case "tag":
			if !null {
				err = val.Decode(&s.Tag)
			}
		case "load_multiplier":
			if !null {
				s.Weight, err = strconv.ParseFloat(strings.TrimSpace(val.Value), 64)
				if err != nil || val.Kind != yaml.ScalarNode {
					err = fmt.Errorf("load_multiplier %q is not a number", val.Value)
				} else if s.Weight <= 0 {
					err = fmt.Errorf("load_multiplier %v must be greater than 0", val.Value)
				}
			}
		case "state", "load", "bbb_version", "online": // servers:yaml[verbose] output
		default:
			warnings = append(warnings, fmt.Sprintf("line %d: server %s: unknown key %q ignored", v.Content[i].Line, id, key))
		}
		if err != nil {
			return s, nil, fmt.Errorf("line %d: server %s: %s: %v", val.Line, id, key, err)
		}
	}
	if !hasSecret {
		return s, nil, fmt.Errorf("line %d: server %s has no secret", k.Line, id)
	}
	if s.URL == "" {
		s.URL = "https://" + id + "/bigbluebutton/api"
	}
	if !httpURL(s.URL) {
		return s, nil, fmt.Errorf("line %d: server %s: url %q is not an http(s) URL", k.Line, id, s.URL)
	}
	return s, warnings, nil
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != ""
}

// The verbs of an import's steps.
const (
	ImportAdd    = "add"    // add Server
	ImportUpdate = "update" // apply Patch
	ImportEnable = "enable" // set the state
	ImportCordon = "cordon"
)

// ImportStep is one change of an import.
type ImportStep struct {
	Verb   string // ImportAdd, ImportUpdate, ImportEnable or ImportCordon
	ID     string
	Detail string                // what changes, for people; never a secret
	Server balancer.ServerConfig // the server an add adds
	Patch  balancer.ServerPatch  // the change of an update
}

// String says what the step does: "update bbb1: weight 1 → 2, secret re-sent".
func (s ImportStep) String() string {
	if s.Detail == "" {
		return s.Verb + " " + s.ID
	}
	return s.Verb + " " + s.ID + ": " + s.Detail
}

// ImportPlan is what makes the pool match a servers file.
type ImportPlan struct {
	Steps     []ImportStep
	Untouched int // servers not in the file, left alone
}

// PlanImport lists the changes that make the pool (have) match the file
// (want): servers missing from the pool are added, the others updated and
// enabled or cordoned as the file says (a disabled server the file does
// not enable stays disabled); servers missing from the file are cordoned
// when cordonMissing (scalelite's sync --mode cordon) and left alone
// otherwise. The admin API never shows secrets, so every server already in
// the pool gets its secret from the file again.
func PlanImport(want []ScaleliteServer, have []balancer.ServerStatus, cordonMissing bool) ImportPlan {
	var plan ImportPlan
	step := func(s ImportStep) { plan.Steps = append(plan.Steps, s) }
	current := map[string]balancer.ServerStatus{}
	for _, s := range have {
		current[s.ID] = s
	}
	inFile := map[string]bool{}
	for _, w := range want {
		inFile[w.ID] = true
		state := balancer.Enabled
		if !w.Enabled {
			state = balancer.Cordoned
		}
		cur, exists := current[w.ID]
		if !exists {
			detail := fmt.Sprintf("%s, %s, weight %g", w.URL, state, w.Weight)
			if w.Tag != "" {
				detail += ", tag " + w.Tag
			}
			step(ImportStep{Verb: ImportAdd, ID: w.ID, Detail: detail,
				Server: balancer.ServerConfig{ID: w.ID, URL: w.URL, Secret: w.Secret, Weight: w.Weight, Tag: w.Tag, State: state}})
			continue
		}
		secret := w.Secret
		patch := balancer.ServerPatch{Secret: &secret}
		var changed []string
		if strings.TrimSuffix(w.URL, "/") != cur.URL {
			u := w.URL
			patch.URL = &u
			changed = append(changed, fmt.Sprintf("url %s → %s", cur.URL, w.URL))
		}
		if w.Weight != cur.Weight {
			weight := w.Weight
			patch.Weight = &weight
			changed = append(changed, fmt.Sprintf("weight %g → %g", cur.Weight, w.Weight))
		}
		if w.Tag != cur.Tag {
			tag := w.Tag
			patch.Tag = &tag
			changed = append(changed, fmt.Sprintf("tag %q → %q", cur.Tag, w.Tag))
		}
		changed = append(changed, "secret re-sent")
		step(ImportStep{Verb: ImportUpdate, ID: w.ID, Detail: strings.Join(changed, ", "), Patch: patch})
		switch {
		case w.Enabled && cur.State != balancer.Enabled:
			step(ImportStep{Verb: ImportEnable, ID: w.ID, Detail: "was " + string(cur.State)})
		case !w.Enabled && cur.State == balancer.Enabled:
			step(ImportStep{Verb: ImportCordon, ID: w.ID, Detail: "enabled: false in the file"})
		}
	}
	have = append([]balancer.ServerStatus(nil), have...)
	sort.Slice(have, func(i, j int) bool { return have[i].ID < have[j].ID })
	for _, s := range have {
		if inFile[s.ID] {
			continue
		}
		if cordonMissing && s.State == balancer.Enabled {
			step(ImportStep{Verb: ImportCordon, ID: s.ID, Detail: "not in the file"})
			continue
		}
		plan.Untouched++
	}
	return plan
}
