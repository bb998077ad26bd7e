// Package suggest derives least-privilege NetworkPolicies from observed
// traffic, proves them by replaying every observed flow through the policy
// engine, renders them as NetworkPolicy or CiliumNetworkPolicy YAML, and
// audits a namespace's current policies against what was observed.
//
// The pipeline: an Observer aggregates resolved flows (AddRecord resolves
// them as auditor audit does) into edges between workloads and addresses;
// Suggest turns the edges of one namespace into a Suggestion (a default deny
// plus one policy per workload); RenderYAML and RenderCilium print it
// deterministically; Replay judges it against the engine; Audit reports on
// the namespace's current policies instead.
package suggest
