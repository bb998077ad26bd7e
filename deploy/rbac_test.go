package deploy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/flow-auditor/flow-auditor/api/v1alpha1"
)

// grant is one permission: a verb on group/resource (resource may carry a
// /subresource).
type grant struct{ group, resource, verb string }

func (g grant) String() string {
	if g.group == "" {
		return g.verb + " " + g.resource
	}
	return g.verb + " " + g.resource + "." + g.group
}

// inventoryResources are what the agent's live inventory watches
// (correlate/live_resources.go: informers list and watch; the baseline
// writer gets the Node that owns its objects).
var inventoryResources = []struct{ group, resource string }{
	{"", "pods"}, {"", "namespaces"}, {"", "services"}, {"", "nodes"}, {"", "replicationcontrollers"},
	{"discovery.k8s.io", "endpointslices"},
	{"networking.k8s.io", "networkpolicies"},
	{"apps", "replicasets"}, {"apps", "deployments"}, {"apps", "statefulsets"}, {"apps", "daemonsets"},
	{"batch", "jobs"}, {"batch", "cronjobs"},
}

// readGrants: get, list and watch on the inventory, and (with a cluster
// baseline) list on ObservedTraffic: every agent merges every node's.
func readGrants(clusterBaseline bool) map[grant]bool {
	out := map[grant]bool{}
	for _, r := range inventoryResources {
		for _, v := range []string{"get", "list", "watch"} {
			out[grant{r.group, r.resource, v}] = true
		}
	}
	if clusterBaseline {
		out[grant{v1alpha1.Group, v1alpha1.Resource, "list"}] = true
	}
	return out
}

// baselineWrites: what baseline.Writer calls. Server-side apply is a PATCH,
// authorized as create when the object does not exist yet; the peers go to
// the status subresource.
func baselineWrites() map[grant]bool {
	return map[grant]bool{
		{v1alpha1.Group, v1alpha1.Resource, "create"}:            true,
		{v1alpha1.Group, v1alpha1.Resource, "patch"}:             true,
		{v1alpha1.Group, v1alpha1.Resource + "/status", "patch"}: true,
	}
}

func isRead(verb string) bool { return verb == "get" || verb == "list" || verb == "watch" }

func isBaselineWrite(g grant) bool { return baselineWrites()[g] }

// expandRules turns rules into grants, refusing wildcards and anything but
// plain resource rules.
func expandRules(rules []rbacv1.PolicyRule) (map[grant]bool, error) {
	out := map[grant]bool{}
	for _, r := range rules {
		if len(r.NonResourceURLs) > 0 || len(r.ResourceNames) > 0 {
			return nil, fmt.Errorf("rule %+v: want plain resource rules", r)
		}
		for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs} {
			if slices.Contains(list, "*") {
				return nil, fmt.Errorf("rule %+v has a wildcard", r)
			}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out[grant{g, res, v}] = true
				}
			}
		}
	}
	return out, nil
}

// bindings returns what the rendered RBAC grants the agent: cluster-wide,
// and per namespace.
func bindings(t *testing.T, r *rendered, saName string) (cluster map[grant]bool, perNS map[string]map[grant]bool) {
	t.Helper()
	roles := map[string][]rbacv1.PolicyRule{}
	for _, o := range r.all("ClusterRole") {
		roles[o.name()] = o.obj.(*rbacv1.ClusterRole).Rules
	}
	if len(r.all("Role")) != 0 {
		t.Error("namespaced Roles rendered: the chart binds ClusterRoles only")
	}
	resolve := func(ref rbacv1.RoleRef, subjects []rbacv1.Subject, where string) map[grant]bool {
		if ref.Kind != "ClusterRole" {
			t.Fatalf("%s refers to a %s", where, ref.Kind)
		}
		rules, ok := roles[ref.Name]
		if !ok {
			t.Fatalf("%s refers to ClusterRole %s, which the chart does not render", where, ref.Name)
		}
		want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: saName, Namespace: releaseNS}}
		if !slices.Equal(subjects, want) {
			t.Errorf("%s binds %+v: want only the agent's ServiceAccount", where, subjects)
		}
		g, err := expandRules(rules)
		if err != nil {
			t.Fatalf("ClusterRole %s: %v", ref.Name, err)
		}
		return g
	}
	cluster, perNS = map[grant]bool{}, map[string]map[grant]bool{}
	for _, o := range r.all("ClusterRoleBinding") {
		b := o.obj.(*rbacv1.ClusterRoleBinding)
		maps.Copy(cluster, resolve(b.RoleRef, b.Subjects, "ClusterRoleBinding "+b.Name))
	}
	for _, o := range r.all("RoleBinding") {
		b := o.obj.(*rbacv1.RoleBinding)
		if perNS[b.Namespace] == nil {
			perNS[b.Namespace] = map[grant]bool{}
		}
		maps.Copy(perNS[b.Namespace], resolve(b.RoleRef, b.Subjects, "RoleBinding "+b.Namespace+"/"+b.Name))
	}
	return cluster, perNS
}

// checkRBAC: read-only everywhere except create/patch of ObservedTraffic,
// and exactly what the code calls.
func checkRBAC(t *testing.T, r *rendered, values map[string]any) {
	t.Helper()
	ds := one[*appsv1.DaemonSet](t, r, "DaemonSet", daemonSetName)
	cfg, err := agentConfig(agentContainer(t, ds))
	if err != nil {
		t.Fatal(err)
	}
	cluster, perNS := bindings(t, r, ds.Spec.Template.Spec.ServiceAccountName)
	clusterBaseline := cfg.Baseline == "cluster"

	want := readGrants(clusterBaseline)
	wantNS := map[string]map[grant]bool{}
	if clusterBaseline {
		nss, _ := valueAt(values, "rbac", "baselineNamespaces").([]any)
		if len(nss) == 0 {
			maps.Copy(want, baselineWrites())
		}
		for _, ns := range nss {
			wantNS[ns.(string)] = baselineWrites()
		}
	}
	for g := range cluster {
		if !isRead(g.verb) && !isBaselineWrite(g) {
			t.Errorf("cluster-wide %s: only reads and the baseline's writes are allowed", g)
		}
	}
	diffGrants(t, "cluster-wide", cluster, want)
	if !maps.EqualFunc(perNS, wantNS, maps.Equal) {
		t.Errorf("per-namespace grants %v, want %v", perNS, wantNS)
	}
}

func diffGrants(t *testing.T, where string, got, want map[grant]bool) {
	t.Helper()
	var extra, missing []string
	for g := range got {
		if !want[g] {
			extra = append(extra, g.String())
		}
	}
	for g := range want {
		if !got[g] {
			missing = append(missing, g.String())
		}
	}
	slices.Sort(extra)
	slices.Sort(missing)
	if len(extra) > 0 {
		t.Errorf("%s: granted beyond what the agent calls: %s", where, strings.Join(extra, ", "))
	}
	if len(missing) > 0 {
		t.Errorf("%s: missing what the agent calls: %s", where, strings.Join(missing, ", "))
	}
}
