package rules

// Features is everything a rule's `when` expression can see about one
// customer at one moment. The scorer fills it; rules only read it. Every
// field is a CEL variable named "<group>.<cel tag>", for example
// tickets.opened_7d; the `doc` tag is what `riskctl rules features` prints.
//
// Counts are int, ratios and amounts double; "days since" features are -1
// when the thing never happened, so a rule must test the companion bool or
// compare with >= 0 first.
type Features struct {
	Usage      UsageFeatures      `cel:"usage"`
	Tickets    TicketFeatures     `cel:"tickets"`
	NPS        NPSFeatures        `cel:"nps"`
	Commercial CommercialFeatures `cel:"commercial"`
	Mentions   MentionFeatures    `cel:"mentions"`
	Billing    BillingFeatures    `cel:"billing"`
	Contact    ContactFeatures    `cel:"contact"`
	Champion   ChampionFeatures   `cel:"champion"`
	Rating     RatingFeatures     `cel:"rating"`
	Profile    ProfileFeatures    `cel:"profile"`
	Customer   CustomerFeatures   `cel:"customer"`
}

type UsageFeatures struct {
	Seen            bool    `cel:"seen" doc:"at least one usage event was ever received"`
	Events7d        int64   `cel:"events_7d" doc:"usage events in the last 7 days"`
	RecentDaily     float64 `cel:"recent_daily" doc:"mean events per day over the last 7 days"`
	BaselineDaily   float64 `cel:"baseline_daily" doc:"mean events per day over the 28 days before the last 7 (the customer's own baseline)"`
	BaselineDays    int64   `cel:"baseline_days" doc:"days of history behind the baseline (0-28)"`
	DropPct         float64 `cel:"drop_pct" doc:"percent drop of recent_daily against baseline_daily (0 when usage rose or no baseline)"`
	DaysInactive    int64   `cel:"days_inactive" doc:"whole days since the last usage event (-1: never)"`
	TypicalGapDays  float64 `cel:"typical_gap_days" doc:"mean days between active days over the last 90 days: the customer's cadence"`
	ActiveUsers     int64   `cel:"active_users" doc:"latest active_users snapshot (0: never sent)"`
	ActiveUsersDrop float64 `cel:"active_users_drop_pct" doc:"percent drop of active_users against the highest snapshot of the last 35 days"`
	LifetimeGapDays float64 `cel:"lifetime_gap_days" doc:"mean days between active days from the first to the latest (7 when active on one day only): the cadence a fade does not drag along"`
	DaysSinceFirst  int64   `cel:"days_since_first" doc:"whole days since the first usage event (-1: never)"`
	ActiveDays35d   int64   `cel:"active_days_35d" doc:"days with usage among the last 35 (today included)"`
	ActiveDays90d   int64   `cel:"active_days_90d" doc:"days with usage among the last 90 (today included)"`
	Recent14Daily   float64 `cel:"recent14_daily" doc:"mean events per day over the last 14 complete days"`
	LongDaily       float64 `cel:"long_baseline_daily" doc:"mean events per day over days 15 to 84 before today: the customer's level before a slow fade"`
	LongDays        int64   `cel:"long_baseline_days" doc:"days of history behind long_baseline_daily (0-70)"`
	FadePct         float64 `cel:"fade_pct" doc:"percent drop of recent14_daily against long_baseline_daily (0 when usage rose or no long baseline): a slow fade that a 7-day window misses"`
	GrowthPct       float64 `cel:"growth_pct" doc:"percent rise of recent14_daily against long_baseline_daily (0 when usage fell or no long baseline)"`
	SegmentDropPct  float64 `cel:"segment_drop_pct" doc:"drop_pct of the other customers of the customer's segment over the same days (0 when unknown or none): a dip every customer shares, a holiday or an outage"`
	SegmentFadePct  float64 `cel:"segment_fade_pct" doc:"fade_pct of the other customers of the customer's segment over the same days (0 when unknown or none)"`
}

type TicketFeatures struct {
	Opened7d          int64   `cel:"opened_7d" doc:"tickets opened or reopened in the last 7 days"`
	BaselineWeekly    float64 `cel:"baseline_weekly" doc:"mean tickets opened per week over the 7 weeks before the last 7 days"`
	SpikeRatio        float64 `cel:"spike_ratio" doc:"opened_7d / max(baseline_weekly, 0.5)"`
	Urgent7d          int64   `cel:"urgent_7d" doc:"urgent-priority tickets opened in the last 7 days"`
	Escalated7d       int64   `cel:"escalated_7d" doc:"tickets escalated in the last 7 days"`
	OpenBacklog       int64   `cel:"open_backlog" doc:"tickets opened and not yet solved or closed"`
	SlowResponses30d  int64   `cel:"slow_responses_30d" doc:"first responses slower than 2x the customer's usual in the last 30 days (and over 60 minutes)"`
	LastFirstResponse float64 `cel:"last_first_response_minutes" doc:"the latest first_response_minutes received (0: none)"`
}

type NPSFeatures struct {
	Answered  bool  `cel:"answered" doc:"at least one NPS answer was received"`
	Last      int64 `cel:"last" doc:"the latest answer 0-10 (-1: none)"`
	Previous  int64 `cel:"previous" doc:"the answer before the latest (-1: none)"`
	Drop      int64 `cel:"drop" doc:"previous - last when positive, else 0"`
	DaysSince int64 `cel:"days_since" doc:"days since the latest answer (-1: none)"`
	Detractor bool  `cel:"detractor" doc:"latest answer 0-6"`
	Passive   bool  `cel:"passive" doc:"latest answer 7-8: the 'meh' answer that precedes churn as often as anger"`
}

type CommercialFeatures struct {
	DiscountRequests90d   int64   `cel:"discount_requests_90d" doc:"discount requests in the last 90 days"`
	DowngradeRequests90d  int64   `cel:"downgrade_requests_90d" doc:"downgrade requests in the last 90 days"`
	ContractShrinks90d    int64   `cel:"contract_shrinks_90d" doc:"contract changes with a negative amount_pct in the last 90 days"`
	CancellationInquiries int64   `cel:"cancellation_inquiries_90d" doc:"cancellation inquiries in the last 90 days"`
	DaysSinceRequest      int64   `cel:"days_since_request" doc:"days since the latest discount, downgrade, shrinking contract change or cancellation inquiry (-1: none in 90 days)"`
	RequestDaysToRenewal  int64   `cel:"request_days_to_renewal" doc:"days from that latest request to the renewal date (-1: unknown)"`
	UnansweredQuotes      int64   `cel:"unanswered_quotes" doc:"quote requests without a later quote_answered"`
	OldestUnansweredQuote int64   `cel:"oldest_unanswered_quote_days" doc:"age in days of the oldest unanswered quote request (-1: none)"`
	DaysToRenewal         int64   `cel:"days_to_renewal" doc:"days until the profile's renewal date (-1: unknown or past)"`
	LargestShrinkPct      float64 `cel:"largest_shrink_pct" doc:"largest contract value reduction asked in the last 90 days, as a positive percent"`
	Expansions90d         int64   `cel:"expansions_90d" doc:"contract changes with a positive amount_pct in the last 90 days"`
}

type MentionFeatures struct {
	Negative30d      int64   `cel:"negative_30d" doc:"mentions with sentiment <= -0.25 in the last 30 days"`
	NegativeReach30d float64 `cel:"negative_reach_30d" doc:"sum of reach (1 when not given) of those negative mentions"`
	Sentiment30d     float64 `cel:"sentiment_30d" doc:"mean sentiment of all mentions in the last 30 days (0: none)"`
}

type BillingFeatures struct {
	Failed30d         int64 `cel:"failed_payments_30d" doc:"failed payments in the last 30 days"`
	UnresolvedFailure bool  `cel:"unresolved_failure" doc:"a payment failed and no payment succeeded after it"`
	CardExpiring      bool  `cel:"card_expiring" doc:"a card_expiring notice in the last 30 days not followed by a successful payment"`
	InvoiceOverdue    bool  `cel:"invoice_overdue" doc:"an invoice_overdue notice not followed by a successful payment"`
}

type ContactFeatures struct {
	Ever         bool  `cel:"ever" doc:"the CSM ever touched this customer (csm_touch, qbr or reply)"`
	DaysSinceCSM int64 `cel:"days_since_csm" doc:"days since the last CSM contact (-1: never)"`
}

type ChampionFeatures struct {
	Lost          bool  `cel:"lost" doc:"a champion left and no champion was added after"`
	DaysSinceLost int64 `cel:"days_since_lost" doc:"days since the champion left (-1: not lost)"`
}

type RatingFeatures struct {
	Value     string `cel:"value" doc:"the CSM's latest rating: green, yellow, red, or empty"`
	DaysSince int64  `cel:"days_since" doc:"days since that rating (-1: none)"`
}

type ProfileFeatures struct {
	Known         bool    `cel:"known" doc:"a profile was received for this customer"`
	ARR           float64 `cel:"arr" doc:"annual recurring revenue"`
	Segment       string  `cel:"segment" doc:"segment, e.g. enterprise, mid_market, smb"`
	Plan          string  `cel:"plan" doc:"plan name"`
	Stage         string  `cel:"stage" doc:"lifecycle stage: onboarding, adoption, escalation, renewal, or empty"`
	Owner         string  `cel:"owner" doc:"owner CSM"`
	DaysToRenewal int64   `cel:"days_to_renewal" doc:"days until the renewal date (-1: unknown or past)"`
}

type CustomerFeatures struct {
	AgeDays int64 `cel:"age_days" doc:"days since the first signal of this customer"`
	Churned bool  `cel:"churned" doc:"an outcome churned was received"`
}
