package hooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/riskwatch/riskwatch/signals"
)

// celCostLimit bounds one evaluation, so that no payload makes a mapping
// expensive. A mapping of a few dozen field reads costs well under 1,000.
const celCostLimit = 100_000

// maxCEL bounds the expression's text.
const maxCEL = 8 << 10

var celEnv = func() *cel.Env {
	env, err := cel.NewEnv(
		cel.Variable("body", cel.DynType),
		cel.Variable("headers", cel.MapType(cel.StringType, cel.StringType)),
	)
	if err != nil {
		panic(fmt.Sprintf("hooks: the CEL environment: %v", err))
	}
	return env
}()

// celMapping is a compiled Mapping.CEL.
type celMapping struct {
	prg cel.Program
}

func compileCEL(expr string) (*celMapping, error) {
	if len(expr) > maxCEL {
		return nil, fmt.Errorf("cel: %d bytes, the limit is %d", len(expr), maxCEL)
	}
	ast, iss := celEnv.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("cel: %w", iss.Err())
	}
	prg, err := celEnv.Program(ast, cel.CostLimit(celCostLimit))
	if err != nil {
		return nil, fmt.Errorf("cel: %w", err)
	}
	return &celMapping{prg: prg}, nil
}

// eval runs the expression over the body and headers. It returns the
// result as a decoded JSON document, or nil when the expression answers
// null or an empty map (the request is ignored): "cond ? {...} : {}"
// type-checks where "cond ? {...} : null" does not.
func (c *celMapping) eval(r Request) (any, error) {
	var body any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		return nil, mapErr(signals.ReasonMalformed, "", "%v", err)
	}
	headers := make(map[string]string, len(r.Header))
	for k, vs := range r.Header {
		if len(vs) > 0 {
			headers[strings.ToLower(k)] = vs[0]
		}
	}
	out, _, err := c.prg.Eval(map[string]any{"body": body, "headers": headers})
	if err != nil {
		// A missing field, a wrong type, the cost limit: the payload does
		// not fit the mapping.
		return nil, mapErr(signals.ReasonWrongType, "", "cel: %v", err)
	}
	if out == types.NullValue {
		return nil, nil
	}
	native, err := out.ConvertToNative(reflect.TypeOf(&structpb.Value{}))
	if err != nil {
		return nil, mapErr(signals.ReasonWrongType, "", "cel: the result is not JSON: %v", err)
	}
	b, err := protojson.Marshal(native.(*structpb.Value))
	if err != nil {
		return nil, mapErr(signals.ReasonWrongType, "", "cel: the result is not JSON: %v", err)
	}
	doc, err := decodeAny(b)
	if err != nil {
		return nil, mapErr(signals.ReasonWrongType, "", "cel: %v", err)
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, mapErr(signals.ReasonWrongType, "", "cel: want a map with kind, id, customer, time and data, or {}")
	}
	if len(m) == 0 {
		return nil, nil
	}
	return doc, nil
}

// celResult is the fixed mapping of an expression's result.
func celResult(doc any, g *generic, now time.Time) (signals.Signal, error) {
	m := doc.(map[string]any)
	data, _ := m["data"].(map[string]any)
	if len(data) > maxMapped {
		return signals.Signal{}, mapErr(signals.ReasonOutOfRange, "data", "%d fields, at most %d", len(data), maxMapped)
	}
	fixed := Mapping{Kind: "kind", ID: "id", Customer: "customer", Time: "time", Data: map[string]string{}}
	for k := range data {
		if strings.Contains(k, ".") || k == "" {
			return signals.Signal{}, mapErr(signals.ReasonWrongType, "data", "%.40q is not a data field", k)
		}
		fixed.Data[k] = "data." + k
	}
	if s, _ := m["kind"].(string); !signals.Kind(s).Valid() {
		return signals.Signal{}, mapErr(signals.ReasonUnknownKind, "kind", "the expression gave %.40q", s)
	}
	return (&generic{m: fixed}).fromDoc(doc, now)
}

var errBothMappings = errors.New("cel replaces kind, id, customer, time, data and match: give one or the other")
