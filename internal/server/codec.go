package server

import (
	"unicode/utf8"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// A request that does not decode (invalid UTF-8 in a proto3 string field,
// broken wire format) is the client's fault, but grpc-go answers it with
// Internal, before any interceptor runs for unary calls ("grpc: failed to
// unmarshal the received message"). This codec turns it into the
// InvalidArgument every other bad request gets: Unmarshal does not fail but
// empties the message and leaves why in it, as an unknown field of a
// number no flowsteer message uses, and the validation interceptor
// (Validators.check), which sees every request message right after it is
// decoded, refuses it naming the field. The reason travels in the message
// itself, so a message some earlier interceptor refuses (an auth guard)
// leaves nothing behind.
type requestCodec struct{ base encoding.CodecV2 }

// decodeErrorField is the unknown field that carries a decode failure:
// the largest field number protobuf allows.
const decodeErrorField protowire.Number = protowire.MaxValidNumber

func newRequestCodec() encoding.CodecV2 {
	return requestCodec{base: encoding.GetCodecV2(grpcproto.Name)}
}

func (c requestCodec) Name() string { return c.base.Name() }

func (c requestCodec) Marshal(v any) (mem.BufferSlice, error) { return c.base.Marshal(v) }

func (c requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.base.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return err
	}
	why := err.Error()
	if field := invalidUTF8(data.Materialize(), m.ProtoReflect().Descriptor(), "", 0); field != "" {
		why = field + " is not valid UTF-8 (protobuf string fields must be)"
	}
	proto.Reset(m)
	var mark []byte
	mark = protowire.AppendTag(mark, decodeErrorField, protowire.BytesType)
	mark = protowire.AppendBytes(mark, []byte(why))
	m.ProtoReflect().SetUnknown(mark)
	return nil
}

// claimDecodeError reports why m did not decode, if it did not, and clears
// the mark.
func claimDecodeError(m any) (string, bool) {
	pm, ok := m.(proto.Message)
	if !ok {
		return "", false
	}
	r := pm.ProtoReflect()
	b := r.GetUnknown()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", false
		}
		b = b[n:]
		if num == decodeErrorField && typ == protowire.BytesType {
			why, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return "", false
			}
			r.SetUnknown(nil)
			return string(why), true
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return "", false
		}
		b = b[n:]
	}
	return "", false
}

// invalidUTF8 names the first string field of b (a message of md) that is
// not UTF-8, as a dotted path ("task.question"), or "" when there is none
// or the wire format is broken before it.
func invalidUTF8(b []byte, md protoreflect.MessageDescriptor, prefix string, depth int) string {
	if depth > 100 { // protobuf's own recursion limit
		return ""
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return ""
		}
		val := b[:n]
		b = b[n:]
		fd := md.Fields().ByNumber(num)
		if fd == nil || typ != protowire.BytesType {
			continue
		}
		v, _ := protowire.ConsumeBytes(val)
		name := prefix + string(fd.Name())
		switch fd.Kind() {
		case protoreflect.StringKind:
			if !utf8.Valid(v) {
				return name
			}
		case protoreflect.MessageKind:
			if fd.IsMap() {
				// A map entry is a message of key and value.
				if bad := invalidUTF8(v, fd.Message(), name+".", depth+1); bad != "" {
					return name
				}
			} else if bad := invalidUTF8(v, fd.Message(), name+".", depth+1); bad != "" {
				return bad
			}
		}
	}
	return ""
}
