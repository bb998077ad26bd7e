package server

import (
	"fmt"
	"strings"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// fieldMask is a compiled GetFlowsRequest.field_mask: a tree of the flow's
// fields to send. The hubble CLI sends one for its compact, dict and table
// output, so that the server sends less.
type fieldMask map[protoreflect.Name]fieldMask

func newFieldMask(fm *fieldmaskpb.FieldMask) (fieldMask, error) {
	if len(fm.GetPaths()) == 0 {
		return nil, nil
	}
	root := fieldMask{}
	desc := (&flowpb.Flow{}).ProtoReflect().Descriptor()
	for _, path := range fm.GetPaths() {
		node, md := root, desc
		parts := strings.Split(path, ".")
		for i, part := range parts {
			fd := md.Fields().ByName(protoreflect.Name(part))
			if fd == nil {
				return nil, fmt.Errorf("field mask: %s has no field %q", md.FullName(), part)
			}
			last := i == len(parts)-1
			if !last && (fd.Message() == nil || fd.IsList() || fd.IsMap()) {
				return nil, fmt.Errorf("field mask: %q: %s is not a message", path, part)
			}
			if last {
				node[fd.Name()] = nil // the whole field, whatever was asked below it
				break
			}
			child, seen := node[fd.Name()]
			if seen && child == nil {
				break // the whole field is already asked for
			}
			if !seen {
				child = fieldMask{}
				node[fd.Name()] = child
			}
			node, md = child, fd.Message()
		}
	}
	return root, nil
}

// apply returns a flow holding only the masked fields of f. Values are
// shared with f, which must not be modified after.
func (m fieldMask) apply(f *flowpb.Flow) *flowpb.Flow {
	if m == nil {
		return f
	}
	out := &flowpb.Flow{}
	m.copy(out.ProtoReflect(), f.ProtoReflect())
	return out
}

func (m fieldMask) copy(dst, src protoreflect.Message) {
	fields := src.Descriptor().Fields()
	for name, child := range m {
		fd := fields.ByName(name)
		if !src.Has(fd) {
			continue
		}
		if child == nil {
			dst.Set(fd, src.Get(fd))
			continue
		}
		child.copy(dst.Mutable(fd).Message(), src.Get(fd).Message())
	}
}
