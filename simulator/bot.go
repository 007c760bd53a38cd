package simulator

import (
	"encoding/json"
	"net/http"
	"strings"
)

// BotRequest is what the channel POSTs to a workstream's bot for each customer
// message; BotResponse is what a bot answers. The demo bot at /_sim/bot speaks it.
type BotRequest struct {
	ConversationID string `json:"conversation_id"`
	Customer       struct {
		PSID   string `json:"psid"`
		Name   string `json:"name"`
		Locale string `json:"locale"`
	} `json:"customer"`
	Message struct {
		ID   string `json:"id"`
		Kind string `json:"kind"`
		Text string `json:"text"`
	} `json:"message"`
	Transcript []struct {
		Sender string `json:"sender"`
		Text   string `json:"text"`
	} `json:"transcript"`
}

type BotResponse struct {
	Replies []struct {
		Text string `json:"text"`
	} `json:"replies"`
	Handoff *struct {
		Reason  string `json:"reason"`
		Summary string `json:"summary"`
		QueueID string `json:"queue_id,omitempty"`
	} `json:"handoff,omitempty"`
}

// demoFAQ is what the demo bot knows.
var demoFAQ = []struct{ keywords, answer string }{
	{"hours open opening", "We're open Monday to Friday, 9:00–17:00 CET."},
	{"shipping delivery parcel", "Orders ship within 2 working days; delivery takes 1–3 days after that."},
	{"return refund", "You can return anything within 30 days for a full refund."},
}

// serveDemoBot answers FAQs and hands off to a person on "agent" (or "human"), or
// after two questions it could not answer.
func serveDemoBot(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var req BotRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	text := strings.ToLower(req.Message.Text)
	reply := func(t string) map[string]any { return map[string]any{"text": t} }
	answer := map[string]any{}
	switch {
	case strings.Contains(text, "agent") || strings.Contains(text, "human"):
		answer["replies"] = []any{reply("Connecting you with a person — one moment please.")}
		answer["handoff"] = map[string]any{"reason": "customer asked for an agent", "summary": summarise(req)}
	default:
		for _, faq := range demoFAQ {
			for _, k := range strings.Fields(faq.keywords) {
				if strings.Contains(text, k) {
					answer["replies"] = []any{reply(faq.answer)}
				}
			}
		}
		if answer["replies"] == nil {
			if unanswered(req) >= 1 {
				answer["replies"] = []any{reply("Let me get you someone who can help.")}
				answer["handoff"] = map[string]any{"reason": "the bot could not answer", "summary": summarise(req)}
			} else {
				answer["replies"] = []any{reply("I can help with opening hours, shipping and returns. Type 'agent' to talk to a person.")}
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(answer)
}

func unanswered(req BotRequest) int {
	n := 0
	for _, m := range req.Transcript {
		if m.Sender == "bot" && strings.HasPrefix(m.Text, "I can help with") {
			n++
		}
	}
	return n
}

func summarise(req BotRequest) string {
	var asked []string
	for _, m := range req.Transcript {
		if m.Sender == "customer" && m.Text != "" {
			asked = append(asked, m.Text)
		}
	}
	if len(asked) == 0 {
		return "The customer wrote: " + req.Message.Text
	}
	return "The customer wrote: " + strings.Join(asked, " / ")
}
