package verdict

import (
	flowpb "github.com/cilium/cilium/api/v1/flow"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/flow-auditor/flow-auditor/flow"
)

// ExtensionKey names the auditor's results inside a served flow's
// extensions: a google.protobuf.Struct {"flow_auditor": {"verdict": ...,
// "egress": ..., "ingress": ..., "violation": ..., "explanation": ...}}.
// A well-known type, so that any Hubble client (`hubble observe -o jsonpb`)
// prints it without knowing the auditor.
const ExtensionKey = "flow_auditor"

// Annotate writes rec's policy results into f, the Hubble flow converted
// from rec:
//   - would-deny (forwarded although policy denies) becomes verdict AUDIT,
//     what Cilium reports in policy audit mode;
//   - denied (dropped by policy) becomes DROPPED with drop reason
//     POLICY_DENIED, unless the kernel's drop reason is one Hubble knows;
//   - verdict, egress, ingress, violation and explanation go into the
//     extensions (see ExtensionKey), which Classify reads back.
func Annotate(rec flow.Record, f *flowpb.Flow) {
	switch rec.Violation {
	case WouldDeny:
		if rec.Observed != flow.Dropped {
			f.Verdict = flowpb.Verdict_AUDIT
		}
	case Denied:
		f.Verdict = flowpb.Verdict_DROPPED
		if f.GetDropReasonDesc() == flowpb.DropReason_DROP_REASON_UNKNOWN {
			f.DropReasonDesc = flowpb.DropReason_POLICY_DENIED
			f.DropReason = uint32(flowpb.DropReason_POLICY_DENIED)
		}
	}
	// Encoded by hand, in a fixed key order: every served flow carries
	// this, and building a structpb.Struct and marshalling it through
	// reflection costs more than the rest of the conversion.
	var inner []byte
	for _, kv := range [...][2]string{
		{"egress", rec.Egress},
		{"explanation", rec.Explanation},
		{"ingress", rec.Ingress},
		{"verdict", rec.Verdict},
		{"violation", rec.Violation},
	} {
		if kv[1] != "" {
			inner = appendStructField(inner, kv[0], protowire.AppendString(
				protowire.AppendTag(nil, valueStringField, protowire.BytesType), kv[1]))
		}
	}
	if inner == nil {
		return
	}
	value := protowire.AppendBytes(protowire.AppendTag(nil, valueStructField, protowire.BytesType), inner)
	f.Extensions = &anypb.Any{
		TypeUrl: structTypeURL,
		Value:   appendStructField(nil, ExtensionKey, value),
	}
}

// google.protobuf.Struct and Value field numbers, for encoding by hand.
const (
	structFieldsField protowire.Number = 1 // Struct.fields: map<string, Value>
	mapKeyField       protowire.Number = 1
	mapValueField     protowire.Number = 2
	valueStringField  protowire.Number = 3 // Value.string_value
	valueStructField  protowire.Number = 5 // Value.struct_value
	structTypeURL                      = "type.googleapis.com/google.protobuf.Struct"
)

// appendStructField appends one Struct.fields map entry: key and an
// encoded Value.
func appendStructField(b []byte, key string, value []byte) []byte {
	entry := protowire.AppendString(protowire.AppendTag(nil, mapKeyField, protowire.BytesType), key)
	entry = protowire.AppendBytes(protowire.AppendTag(entry, mapValueField, protowire.BytesType), value)
	return protowire.AppendBytes(protowire.AppendTag(b, structFieldsField, protowire.BytesType), entry)
}

// fromExtension copies an auditor's results from f's extensions into rec,
// reporting whether there were any.
func fromExtension(f *flowpb.Flow, rec *flow.Record) bool {
	ext := f.GetExtensions()
	if ext == nil || !ext.MessageIs((*structpb.Struct)(nil)) {
		return false
	}
	var s structpb.Struct
	if err := ext.UnmarshalTo(&s); err != nil {
		return false
	}
	ours := s.GetFields()[ExtensionKey].GetStructValue()
	if ours == nil {
		return false
	}
	get := func(k string) string { return ours.GetFields()[k].GetStringValue() }
	rec.Verdict = get("verdict")
	rec.Egress = get("egress")
	rec.Ingress = get("ingress")
	rec.Violation = get("violation")
	rec.Explanation = get("explanation")
	return true
}
