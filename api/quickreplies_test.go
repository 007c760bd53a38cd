package api

import "testing"

func TestSlugs(t *testing.T) {
	if got := unknownSlug("Hi {customer.first_name}, I am {agent.name} of {page.name} {not a slug} {}"); got != "" {
		t.Fatalf("known slugs refused: %q", got)
	}
	if got := unknownSlug("Hi {customer.firstname}!"); got != "{customer.firstname}" {
		t.Fatalf("unknown slug: got %q", got)
	}
	v := slugValues{customer: "Ada Lovelace", agent: "Grace Hopper", page: "Shop"}
	got := fillSlugs("Hi {customer.first_name} ({customer.name}), {agent.first_name} here ({agent.name}, {page.name}). {x}", v)
	want := "Hi Ada (Ada Lovelace), Grace here (Grace Hopper, Shop). {x}"
	if got != want {
		t.Fatalf("filled %q, want %q", got, want)
	}
}

func TestQuickReplyBody(t *testing.T) {
	b := quickReplyBody{}
	b.Title = optString{Set: true, Value: " Order status "}
	b.Text = optString{Set: true, Value: "Your order, {customer.first_name}"}
	b.Tags = optional[[]string]{Set: true, Value: []string{"Order", "order", "ship"}}
	b.Locale = optString{Set: true, Value: "en_US"}
	ch, err := b.change(true)
	if err != nil || *ch.Title != "Order status" || len(*ch.Tags) != 2 || (*ch.Tags)[0] != "order" {
		t.Fatalf("change: %+v %v", ch, err)
	}
	b.Text.Value = "{custmer.name}"
	if _, err := b.change(true); err == nil {
		t.Fatal("unknown slug accepted")
	}
	if _, err := (quickReplyBody{Text: optString{Set: true, Value: "x"}}).change(true); err == nil {
		t.Fatal("missing title accepted")
	}
	b.Text.Value = "ok"
	b.Locale.Value = "not a locale"
	if _, err := b.change(false); err == nil {
		t.Fatal("bad locale accepted")
	}
}
