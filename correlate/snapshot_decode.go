package correlate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// wantedVersion is the version at which a snapshot contributes objects of
// group/kind (the one the client-go scheme decodes); false for kinds the
// auditor does not read. Other versions of a wanted kind are refused rather
// than silently missed.
func wantedVersion(group, kind string) (schema.GroupVersion, bool) {
	switch group + "/" + kind {
	case "/Namespace", "/Pod", "/Service", "/Node", "/ReplicationController":
		return corev1.SchemeGroupVersion, true
	case "discovery.k8s.io/EndpointSlice":
		return discoveryv1.SchemeGroupVersion, true
	case "networking.k8s.io/NetworkPolicy":
		return networkingv1.SchemeGroupVersion, true
	case "apps/ReplicaSet", "apps/Deployment", "apps/StatefulSet", "apps/DaemonSet":
		return appsv1.SchemeGroupVersion, true
	case "batch/Job", "batch/CronJob":
		return batchv1.SchemeGroupVersion, true
	}
	return schema.GroupVersion{}, false
}

// clusterScoped kinds take no namespace.
func clusterScoped(kind string) bool { return kind == "Namespace" || kind == "Node" }

// rawDoc is one document of a file: JSON, and where it started.
type rawDoc struct {
	line int
	yaml bool // data is YAML still (converted by decodeDocument)
	data []byte
}

// parse decodes one file into the builder.
func (b *snapshotBuilder) parse(name string, data []byte) error {
	docs, err := splitDocuments(name, data)
	if err != nil {
		return err
	}
	if len(docs) == 0 {
		return fmt.Errorf("%s: no Kubernetes objects in the file", name)
	}
	dec := scheme.Codecs.UniversalDeserializer()
	// Converting and decoding are most of the cost and independent per
	// document: they run in parallel; the objects are added in file order,
	// so the first error in the file is the one reported.
	decoded := parallelMap(len(docs), func(i int) decodedDoc {
		d := docs[i]
		ctx := &DocumentError{File: name, Line: d.line, Document: i + 1}
		js := d.data
		if d.yaml {
			var err error
			js, err = yaml.YAMLToJSON(d.data)
			if err != nil {
				ctx.Line, ctx.Err = yamlErrorLine(err, d.line)
				return decodedDoc{ctx: ctx, err: ctx}
			}
		}
		return decodeObject(dec, js, ctx, nil)
	})
	for _, d := range decoded {
		if err := b.commit(dec, d); err != nil {
			return err
		}
	}
	return nil
}

// splitDocuments cuts a file into documents: a JSON stream (or array) of
// objects when it starts with '{' or '[', else a YAML stream separated by
// "---" lines. Documents holding only comments and blank lines are dropped.
func splitDocuments(name string, data []byte) ([]rawDoc, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		return splitJSON(name, data)
	}
	// A document is the bytes between separator lines: a slice of data,
	// not a copy.
	var (
		docs     []rawDoc
		docStart = 0 // offset of the current document
		start    = 1 // its first line
		line     = 0
		off      = 0
	)
	flush := func(end, next int) {
		if cur := data[docStart:end:end]; hasYAMLContent(cur) {
			docs = append(docs, rawDoc{line: start, yaml: true, data: cur})
		}
		start = next
	}
	for off < len(data) {
		line++
		end := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			end = off + i + 1
		}
		if isDocSeparator(data[off:end]) {
			flush(off, line+1)
			docStart = end
		}
		off = end
	}
	flush(len(data), line+1)
	return docs, nil
}

func isDocSeparator(l []byte) bool {
	rest, ok := bytes.CutPrefix(bytes.TrimRight(l, "\r\n"), []byte("---"))
	if !ok {
		return false
	}
	rest = bytes.TrimLeft(rest, " \t")
	return len(rest) == 0 || rest[0] == '#'
}

func hasYAMLContent(doc []byte) bool {
	for len(doc) > 0 {
		l := doc
		if i := bytes.IndexByte(doc, '\n'); i >= 0 {
			l, doc = doc[:i], doc[i+1:]
		} else {
			doc = nil
		}
		l = bytes.TrimSpace(l)
		if len(l) > 0 && l[0] != '#' && !bytes.Equal(l, []byte("...")) {
			return true
		}
	}
	return false
}

func splitJSON(name string, data []byte) ([]rawDoc, error) {
	var docs []rawDoc
	pos, line := 0, 1
	for {
		for pos < len(data) && strings.IndexByte(" \t\r\n", data[pos]) >= 0 {
			if data[pos] == '\n' {
				line++
			}
			pos++
		}
		if pos == len(data) {
			return docs, nil
		}
		d := json.NewDecoder(bytes.NewReader(data[pos:]))
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			errLine := line
			var se *json.SyntaxError
			if errors.As(err, &se) {
				errLine += bytes.Count(data[pos:pos+int(se.Offset)], []byte("\n"))
			}
			return nil, &DocumentError{File: name, Line: errLine, Document: len(docs) + 1,
				Err: fmt.Errorf("invalid JSON: %w", err)}
		}
		if len(raw) > 0 && raw[0] == '[' {
			var items []json.RawMessage
			if err := json.Unmarshal(raw, &items); err != nil {
				return nil, &DocumentError{File: name, Line: line, Document: len(docs) + 1,
					Err: fmt.Errorf("invalid JSON: %w", err)}
			}
			for _, it := range items {
				docs = append(docs, rawDoc{line: line, data: it})
			}
		} else {
			docs = append(docs, rawDoc{line: line, data: raw})
		}
		n := int(d.InputOffset())
		line += bytes.Count(data[pos:pos+n], []byte("\n"))
		pos += n
	}
}

var yamlLineRE = regexp.MustCompile(`^(?:error converting YAML to JSON: )?yaml: line (\d+): (.*)$`)

// yamlErrorLine makes a YAML error's line (counted within the document)
// a line of the file.
func yamlErrorLine(err error, docLine int) (int, error) {
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return docLine, fmt.Errorf("invalid YAML: %w", err)
	}
	n, _ := strconv.Atoi(m[1])
	return docLine + n - 1, fmt.Errorf("invalid YAML: %s", m[2])
}

// head is what is read of a document before decoding it.
type head struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	Items      json.RawMessage
	HasItems   bool
}

func readHead(js []byte) (head, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(js, &fields); err != nil || fields == nil {
		return head{}, errors.New("not a Kubernetes object: want a mapping with apiVersion and kind")
	}
	var h head
	str := func(key string, dst *string) error {
		raw, ok := fields[key]
		if !ok {
			return nil
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("%s: want a string, got %s", key, truncate(string(raw), 40))
		}
		return nil
	}
	if err := str("apiVersion", &h.APIVersion); err != nil {
		return h, err
	}
	if err := str("kind", &h.Kind); err != nil {
		return h, err
	}
	if raw, ok := fields["metadata"]; ok {
		var meta struct {
			Name      any `json:"name"`
			Namespace any `json:"namespace"`
		}
		if json.Unmarshal(raw, &meta) == nil {
			h.Name, _ = meta.Name.(string)
			h.Namespace, _ = meta.Namespace.(string)
		}
	}
	h.Items, h.HasItems = fields["items"]
	return h, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// decodeObject decodes one object (or reads the head of a List) for
// commit. def, for the items of a typed list (PodList), supplies the
// apiVersion and kind they omit. It touches no shared state, so that
// documents decode in parallel.
func decodeObject(dec runtime.Decoder, js []byte, ctx *DocumentError, def *head) decodedDoc {
	fail := func() decodedDoc { return decodedDoc{ctx: ctx, err: ctx} }
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return decodedDoc{ctx: ctx}
	}
	h, err := readHead(js)
	if err != nil {
		ctx.Err = err
		return fail()
	}
	if def != nil {
		if h.APIVersion == "" && h.Kind == "" {
			h.APIVersion, h.Kind = def.APIVersion, def.Kind
			js = withTypeMeta(js, h.APIVersion, h.Kind)
		}
	}
	ctx.Kind, ctx.Namespace, ctx.Name = h.Kind, h.Namespace, h.Name
	switch {
	case h.Kind == "":
		ctx.Err = errors.New(`missing "kind"`)
		return fail()
	case h.APIVersion == "":
		ctx.Err = errors.New(`missing "apiVersion"`)
		return fail()
	}
	gv, err := schema.ParseGroupVersion(h.APIVersion)
	if err != nil {
		ctx.Err = fmt.Errorf("invalid apiVersion %q", h.APIVersion)
		return fail()
	}
	gvk := gv.WithKind(h.Kind)
	if isList(gvk) {
		if ctx.Item > 0 {
			ctx.Err = errors.New("a List inside a List")
			return fail()
		}
		return decodedDoc{ctx: ctx, list: &h}
	}
	if !scheme.Scheme.Recognizes(gvk) {
		ctx.Err = unknownKind(gvk)
		return fail()
	}
	if want, ok := wantedVersion(gvk.Group, gvk.Kind); ok && want != gv {
		ctx.Err = fmt.Errorf("unsupported apiVersion %q for kind %s: want %q", h.APIVersion, h.Kind, want.String())
		return fail()
	} else if !ok {
		where := fmt.Sprintf("%s document %d", ctx.File, ctx.Document)
		if ctx.Item > 0 {
			where += fmt.Sprintf(" item %d", ctx.Item)
		}
		return decodedDoc{ctx: ctx, ignored: strings.TrimSpace(h.Kind+" "+qualified(h.Namespace, h.Name)) + " (" + where + ")"}
	}
	obj, _, err := dec.Decode(js, nil, nil)
	if err != nil {
		ctx.Err = fmt.Errorf("decode: %w", err)
		return fail()
	}
	return decodedDoc{ctx: ctx, obj: obj}
}

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

func unknownKind(gvk schema.GroupVersionKind) error {
	for known := range scheme.Scheme.AllKnownTypes() {
		if known.Kind == gvk.Kind && known.Group == gvk.Group {
			return fmt.Errorf("unsupported apiVersion %q for kind %s", gvk.GroupVersion().String(), gvk.Kind)
		}
	}
	return fmt.Errorf("unknown kind %q (apiVersion %q)", gvk.Kind, gvk.GroupVersion().String())
}

// isList reports whether gvk is a v1 List or a typed list (PodList...).
func isList(gvk schema.GroupVersionKind) bool {
	if gvk.Kind == "List" {
		return true
	}
	return strings.HasSuffix(gvk.Kind, "List") && scheme.Scheme.Recognizes(gvk)
}

func (b *snapshotBuilder) list(dec runtime.Decoder, h head, ctx *DocumentError) error {
	var items []json.RawMessage
	if h.HasItems && !bytes.Equal(bytes.TrimSpace(h.Items), []byte("null")) {
		if err := json.Unmarshal(h.Items, &items); err != nil {
			ctx.Err = errors.New("items: want a list of objects")
			return ctx
		}
	}
	var def *head
	if h.Kind != "List" {
		def = &head{APIVersion: h.APIVersion, Kind: strings.TrimSuffix(h.Kind, "List")}
	}
	decoded := parallelMap(len(items), func(i int) decodedDoc {
		item := &DocumentError{File: ctx.File, Line: ctx.Line, Document: ctx.Document, Item: i + 1}
		return decodeObject(dec, items[i], item, def)
	})
	for _, d := range decoded {
		if err := b.commit(dec, d); err != nil {
			return err
		}
	}
	return nil
}

// withTypeMeta adds apiVersion and kind to a JSON object that lacks them.
func withTypeMeta(js []byte, apiVersion, kind string) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(js, &m) != nil {
		return js
	}
	m["apiVersion"], _ = json.Marshal(apiVersion)
	m["kind"], _ = json.Marshal(kind)
	out, err := json.Marshal(m)
	if err != nil {
		return js
	}
	return out
}

// add defaults, checks and keeps a decoded object.
func (b *snapshotBuilder) add(obj runtime.Object) error {
	if err := validateObject(obj); err != nil {
		return err
	}
	ApplyDefaults(obj)
	switch o := obj.(type) {
	case *corev1.Namespace:
		b.namespaces[objKey{name: o.Name}] = o
	case *corev1.Node:
		b.nodes[objKey{name: o.Name}] = o
	case *corev1.Pod:
		b.pods[objKey{o.Namespace, o.Name}] = o
	case *corev1.Service:
		b.services[objKey{o.Namespace, o.Name}] = o
	case *discoveryv1.EndpointSlice:
		b.slices[objKey{o.Namespace, o.Name}] = o
	case *networkingv1.NetworkPolicy:
		b.policies[objKey{o.Namespace, o.Name}] = o
	default:
		ow, ok := OwnerFrom(obj)
		if !ok {
			return fmt.Errorf("internal error: no place for %T", obj)
		}
		b.owners[ownerKey{ow.Namespace, ow.Kind, ow.Name}] = ow
	}
	return nil
}
