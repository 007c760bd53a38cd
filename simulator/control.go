package simulator

import (
	"encoding/json"
	"io"
	"net/http"
)

// serveControl implements the /_sim/ API that tests and the dev stack use
// to set the simulator up and to play the customer's side.
func (s *Simulator) serveControl(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	switch route {
	case "POST /_sim/apps":
		var in struct {
			AppID     string `json:"app_id"`
			AppSecret string `json:"app_secret"`
			// CallbackURL is the app's webhook (optional): echoes go there.
			CallbackURL string `json:"callback_url"`
		}
		if decode(w, r, &in) && require(w, "app_id", in.AppID, "app_secret", in.AppSecret) {
			s.RegisterApp(in.AppID, in.AppSecret)
			if in.CallbackURL != "" {
				s.SetAppCallback(in.AppID, in.CallbackURL)
			}
			ok(w)
		}
	case "POST /_sim/echoes":
		var in struct {
			Enabled bool `json:"enabled"`
		}
		if decode(w, r, &in) {
			s.SetEchoes(in.Enabled)
			ok(w)
		}
	case "GET /_sim/sent":
		writeJSON(w, http.StatusOK, s.SentMessages())
	case "GET /_sim/sender-actions":
		writeJSON(w, http.StatusOK, s.SenderActions(r.URL.Query().Get("psid")))
	case "POST /_sim/pages":
		var in Page
		if decode(w, r, &in) && require(w, "page_id", in.PageID, "access_token", in.AccessToken) {
			s.RegisterPage(in)
			ok(w)
		}
	case "POST /_sim/profiles":
		var in struct {
			PSID string `json:"psid"`
			ProfileData
		}
		if decode(w, r, &in) && require(w, "psid", in.PSID) {
			s.RegisterProfile(in.PSID, in.ProfileData)
			ok(w)
		}
	case "POST /_sim/tokens/revoke":
		var in struct {
			AccessToken string `json:"access_token"`
			Subcode     int    `json:"subcode"`
		}
		if decode(w, r, &in) && require(w, "access_token", in.AccessToken) {
			if !s.revoke(in.AccessToken, in.Subcode) {
				controlError(w, http.StatusNotFound, "unknown access_token")
				return
			}
			ok(w)
		}
	case "POST /_sim/faults":
		var in Fault
		if decode(w, r, &in) {
			s.AddFault(in)
			ok(w)
		}
	case "DELETE /_sim/faults":
		s.ClearFaults()
		ok(w)
	case "GET /_sim/requests":
		writeJSON(w, http.StatusOK, s.Requests(r.URL.Query().Get("path_suffix")))
	case "DELETE /_sim/requests":
		s.ClearRequests()
		ok(w)
	case "POST /_sim/customer/messages":
		var in struct {
			CallbackURL string `json:"callback_url"`
			AppSecret   string `json:"app_secret"`
			PageID      string `json:"page_id"`
			PSID        string `json:"psid"`
			Text        string `json:"text"`
			MID         string `json:"mid"`
		}
		if !decode(w, r, &in) || !require(w, "callback_url", in.CallbackURL, "page_id", in.PageID, "psid", in.PSID) {
			return
		}
		status, body, mid, err := s.postCustomerMessage(r.Context(), in.CallbackURL, in.AppSecret, in.PageID, in.PSID, in.Text, in.MID)
		if err != nil {
			controlError(w, http.StatusBadGateway, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": status, "body": body, "mid": mid})
	case "POST /_sim/webhook":
		var in struct {
			CallbackURL string          `json:"callback_url"`
			AppSecret   string          `json:"app_secret"`
			Payload     json.RawMessage `json:"payload"`
		}
		if !decode(w, r, &in) || !require(w, "callback_url", in.CallbackURL, "payload", string(in.Payload)) {
			return
		}
		status, body, err := s.PostWebhook(r.Context(), in.CallbackURL, in.AppSecret, in.Payload)
		if err != nil {
			controlError(w, http.StatusBadGateway, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": status, "body": body})
	default:
		controlError(w, http.StatusNotFound, "no such simulator endpoint: "+route)
	}
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v); err != nil {
		controlError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return false
	}
	return true
}

// require takes name, value pairs and answers 400 naming the first empty one.
func require(w http.ResponseWriter, pairs ...string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			controlError(w, http.StatusBadRequest, pairs[i]+" is required")
			return false
		}
	}
	return true
}

func ok(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func controlError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": msg})
}
