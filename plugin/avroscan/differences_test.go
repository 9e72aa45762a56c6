package avroscan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/connect-amplitude/connect-amplitude/internal/samples"
)

// formatDifference lists the columns one of Braze's two formats carries for an
// event type and the other does not, as seen in Braze's samples (Currents
// v10): onlyAvro are in the storage export's writer schema and not in the
// Custom HTTP sample, onlyHTTP the reverse. "user.device_id" is the user
// object's member, other names are properties. The scanner renames none of
// them. One pair is probably one id under two names: the banner schemas'
// canvas_step_message_variation_id is documented as the step variation's API
// id, which the banner Custom HTTP samples call
// canvas_step_message_variation_api_id; Braze documents no such alias, so it
// is left as Braze writes it.
type formatDifference struct {
	onlyAvro, onlyHTTP []string
}

const csmvi = "canvas_step_message_variation_id"

var (
	deviceAttributes = []string{csmvi, "carrier", "country", "gender", "language", "resolution", "sdk_version"}
	userLocale       = []string{csmvi, "country", "gender", "language"}
	userDevice       = formatDifference{onlyHTTP: []string{"user.device_id"}}
	dispatchID       = formatDifference{onlyHTTP: []string{"dispatch_id"}}
	stepVariation    = formatDifference{onlyAvro: []string{csmvi}}
	sdkVersion       = formatDifference{onlyAvro: []string{"sdk_version"}}
	canvasAPIIDs     = formatDifference{onlyAvro: []string{"app_group_api_id", "canvas_api_id", "canvas_step_api_id", "canvas_variation_api_id"}}
	bannerDevice     = formatDifference{onlyAvro: deviceAttributes, onlyHTTP: []string{"canvas_step_message_variation_api_id"}}
)

var formatDifferences = map[string]formatDifference{
	"users.behaviors.InstallAttribution":                  userDevice,
	"users.behaviors.app.FirstSession":                    {onlyAvro: []string{"country", "gender", "language", "sdk_version"}},
	"users.behaviors.liveactivity.PushToStartTokenChange": sdkVersion,
	"users.behaviors.liveactivity.UpdateTokenChange":      sdkVersion,
	"users.behaviors.pushnotification.TokenStateChange":   sdkVersion,
	"users.behaviors.subscription.GlobalStateChange":      {onlyHTTP: []string{"message_variation_name"}},
	"users.behaviors.subscriptiongroup.StateChange":       userDevice,
	"users.campaigns.Conversion":                          {onlyHTTP: []string{"dispatch_id", "user.device_id"}},
	"users.campaigns.EnrollInControl":                     {onlyHTTP: []string{"dispatch_id", "user.device_id"}},
	"users.canvas.Conversion":                             userDevice,
	"users.canvas.Entry":                                  userDevice,
	"users.canvas.exit.MatchedAudience":                   canvasAPIIDs,
	"users.canvas.exit.PerformedEvent":                    canvasAPIIDs,
	"users.messages.banner.Abort":                         bannerDevice,
	"users.messages.banner.Click":                         bannerDevice,
	"users.messages.banner.Dismiss":                       {onlyAvro: []string{csmvi}, onlyHTTP: []string{"canvas_step_message_variation_api_id"}},
	"users.messages.banner.Impression":                    bannerDevice,
	"users.messages.contentcard.Abort":                    stepVariation,
	"users.messages.contentcard.Click":                    dispatchID,
	"users.messages.contentcard.Dismiss":                  dispatchID,
	"users.messages.contentcard.Impression":               dispatchID,
	"users.messages.contentcard.Send":                     dispatchID,
	"users.messages.email.Abort":                          stepVariation,
	"users.messages.email.Bounce":                         userDevice,
	"users.messages.email.Click":                          userDevice,
	"users.messages.email.Deferral":                       stepVariation,
	"users.messages.email.Delivery":                       userDevice,
	"users.messages.email.MarkAsSpam":                     userDevice,
	"users.messages.email.Open":                           userDevice,
	"users.messages.email.Retry":                          {onlyAvro: userLocale},
	"users.messages.email.Send":                           {onlyAvro: []string{"from_domain"}, onlyHTTP: []string{"user.device_id"}},
	"users.messages.email.SoftBounce":                     userDevice,
	"users.messages.email.Unsubscribe":                    userDevice,
	"users.messages.featureflag.Impression":               {onlyAvro: deviceAttributes},
	"users.messages.inappmessage.Abort":                   {onlyAvro: []string{"browser", csmvi, "carrier", "resolution", "version"}},
	"users.messages.inappmessage.Click":                   dispatchID,
	"users.messages.inappmessage.Impression":              dispatchID,
	"users.messages.line.Abort":                           stepVariation,
	"users.messages.line.Click":                           stepVariation,
	"users.messages.line.InboundReceive":                  stepVariation,
	"users.messages.line.Retry":                           stepVariation,
	"users.messages.line.Send":                            stepVariation,
	"users.messages.newsfeedcard.Abort": {onlyAvro: []string{"browser", "campaign_name", "canvas_name", "canvas_step_name",
		"canvas_variation_name", "carrier", "message_variation_name", "resolution"}},
	"users.messages.pushnotification.Abort":         stepVariation,
	"users.messages.pushnotification.IosForeground": {onlyHTTP: []string{"device_model", "os_version"}},
	"users.messages.pushnotification.Open":          stepVariation,
	"users.messages.pushnotification.Retry":         {onlyAvro: userLocale},
	"users.messages.rcs.Abort":                      stepVariation,
	"users.messages.rcs.Click":                      stepVariation,
	"users.messages.rcs.Delivery":                   stepVariation,
	"users.messages.rcs.InboundReceive":             stepVariation,
	"users.messages.rcs.Read":                       stepVariation,
	"users.messages.rcs.Rejection":                  stepVariation,
	"users.messages.rcs.Send":                       stepVariation,
	"users.messages.sms.Abort":                      stepVariation,
	"users.messages.sms.CarrierSend":                userDevice,
	"users.messages.sms.Delivery":                   userDevice,
	"users.messages.sms.DeliveryFailure":            userDevice,
	"users.messages.sms.Rejection":                  userDevice,
	"users.messages.sms.Retry":                      stepVariation,
	"users.messages.sms.Send":                       userDevice,
	"users.messages.sms.ShortLinkClick":             userDevice,
	"users.messages.webhook.Abort":                  stepVariation,
	"users.messages.webhook.Failure":                stepVariation,
	"users.messages.webhook.Retry":                  {onlyAvro: userLocale},
	"users.messages.webhook.Send":                   userDevice,
	"users.messages.whatsapp.Abort":                 stepVariation,
	"users.messages.whatsapp.Click":                 stepVariation,
	"users.messages.whatsapp.Delivery":              stepVariation,
	"users.messages.whatsapp.Failure":               stepVariation,
	"users.messages.whatsapp.InboundReceive":        stepVariation,
	"users.messages.whatsapp.Read":                  stepVariation,
	"users.messages.whatsapp.Retry":                 stepVariation,
	"users.messages.whatsapp.Send":                  {onlyAvro: []string{csmvi}, onlyHTTP: []string{"canvas_variation_name"}},
}

// customHTTPSample reads Braze's Custom HTTP example of an event type; the
// agentconsole examples are filed under users.agentconsole.
func customHTTPSample(t testing.TB, eventType string) ([]byte, bool) {
	t.Helper()
	name := eventType
	if strings.HasPrefix(name, "agentconsole.") {
		name = "users." + name
	}
	data, err := os.ReadFile(filepath.Join(samples.Dir(t), "custom-http", name+".json"))
	if os.IsNotExist(err) {
		return nil, false
	} else if err != nil {
		t.Fatal(err)
	}
	return data, true
}

// TestFieldDifferencesBetweenTheTwoFormatsAreDocumented keeps
// formatDifferences equal to what Braze's samples show, field by field: the
// writer schema's columns (as the scanner places them) against the members of
// the Custom HTTP example.
func TestFieldDifferencesBetweenTheTwoFormatsAreDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range sampleFiles(t) {
		httpData, ok := customHTTPSample(t, f.eventType)
		if !ok {
			continue
		}
		seen[f.eventType] = true
		var ev struct {
			User       map[string]json.RawMessage `json:"user"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(httpData, &ev); err != nil {
			t.Fatal(err)
		}
		var httpCols []string
		for k := range ev.User {
			httpCols = append(httpCols, "user."+k)
		}
		for k := range ev.Properties {
			httpCols = append(httpCols, k)
		}
		var avroCols []string
		for _, field := range fileSchema(t, f.avroPath).Fields() {
			switch name := field.Name(); {
			case name == "id" || name == "time":
			case userColumns[name]:
				avroCols = append(avroCols, "user."+name)
			case name == embeddedObjectColumn && embeddedObjectKeys[f.eventType] != "":
				avroCols = append(avroCols, embeddedObjectKeys[f.eventType])
			default:
				avroCols = append(avroCols, name)
			}
		}
		want := formatDifferences[f.eventType]
		if got := minus(avroCols, httpCols); !sameSet(got, want.onlyAvro) {
			t.Errorf("%s: only in the Avro schema: %v, documented %v", f.eventType, got, want.onlyAvro)
		}
		if got := minus(httpCols, avroCols); !sameSet(got, want.onlyHTTP) {
			t.Errorf("%s: only in the Custom HTTP sample: %v, documented %v", f.eventType, got, want.onlyHTTP)
		}
	}
	for eventType := range formatDifferences {
		if !seen[eventType] {
			t.Errorf("%s is documented but has no pair of samples", eventType)
		}
	}
}

func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}
