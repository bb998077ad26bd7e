package deploy

import (
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
)

// allOn turns on every toggle of values.yaml, and sets every optional
// field, so that each branch of the templates renders.
func allOn() map[string]any {
	return map[string]any{
		"image":             map[string]any{"digest": "sha256:" + sha256Zero},
		"imagePullSecrets":  []any{map[string]any{"name": "regcred"}},
		"priorityClassName": "system-node-critical",
		"capabilities":      map[string]any{"sysResource": true},
		"agent": map[string]any{
			"interfaces": "^(veth|lxc)",
			"podScope":   "node",
			"extraArgs":  []any{"--queue-size=128", "--batch-size=512"},
			"extraEnv":   []any{map[string]any{"name": "GOMEMLIMIT", "value": "400MiB"}},
		},
		"rbac":             map[string]any{"baselineNamespaces": []any{"ai-agents", "databases"}},
		"serviceAccount":   map[string]any{"annotations": map[string]any{"example.com/role": "auditor"}},
		"service":          map[string]any{"annotations": map[string]any{"example.com/scrape": "true"}},
		"podAnnotations":   map[string]any{"example.com/team": "security"},
		"podLabels":        map[string]any{"team": "security"},
		"affinity":         map[string]any{"nodeAffinity": map[string]any{"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{"nodeSelectorTerms": []any{map[string]any{"matchExpressions": []any{map[string]any{"key": "audit", "operator": "NotIn", "values": []any{"off"}}}}}}}},
		"serviceMonitor":   map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}},
		"prometheusRule":   map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}},
		"grafanaDashboard": map[string]any{"enabled": true, "namespace": "monitoring"},
	}
}

const sha256Zero = "0000000000000000000000000000000000000000000000000000000000000000"

// hubbleSource follows each node's Cilium Hubble server over mutual TLS.
func hubbleSource() map[string]any {
	return map[string]any{"agent": map[string]any{
		"source": "hubble",
		"hubble": map[string]any{
			"server": "$(NODE_IP):4244",
			"tls": map[string]any{
				"enabled": true, "secretName": "hubble-relay-client-certs", "mutual": true,
				"serverName": "$(NODE_NAME).default.hubble-grpc.cilium.io",
			},
		},
	}}
}

func productionValues(t testing.TB) map[string]any {
	t.Helper()
	v, err := chartutil.ReadValuesFile(filepath.Join(chartDir, "values-production.yaml"))
	if err != nil {
		t.Fatalf("values-production.yaml: %v", err)
	}
	return v.AsMap()
}

// scenario is one way to install the chart.
type scenario struct {
	name   string
	values map[string]any
	apis   []string
}

func scenarios(t testing.TB) []scenario {
	return []scenario{
		{"defaults", nil, nil},
		{"every toggle on", allOn(), monitoringAPIs},
		{"production", productionValues(t), monitoringAPIs},
		{"hubble source", hubbleSource(), nil},
		{"memory baseline, no Hubble API", map[string]any{
			"agent":     map[string]any{"baseline": "memory"},
			"hubbleApi": map[string]any{"enabled": false},
		}, nil},
	}
}
