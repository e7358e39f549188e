"""Campaign KPI Streams: real-time KPIs for influencer-marketing campaigns."""
