// Package deploy holds what installs and watches the auditor: the Helm chart
// (helm/flow-auditor), the Prometheus rules (prometheus/), the Grafana
// dashboard (grafana/) and the ObservedTraffic CRD (crds/). It has no code;
// its tests render the chart with the Helm SDK and check the manifests, the
// alerts and the dashboard against the agent they deploy.
package deploy
