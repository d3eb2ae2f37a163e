# ruff: noqa: E501 - real feeds put a whole paragraph on one line
"""Feeds and pages shaped like the ones a WordPress clinic site really serves."""

from __future__ import annotations

WORDPRESS_RSS = """<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"
  xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:wfw="http://wellformedweb.org/CommentAPI/"
  xmlns:dc="http://purl.org/dc/elements/1.1/"
  xmlns:atom="http://www.w3.org/2005/Atom"
  xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"
  xmlns:slash="http://purl.org/rss/1.0/modules/slash/">
<channel>
  <title>Riverbend Pain &#038; Spine Clinic</title>
  <atom:link href="https://riverbend.example.org/feed/" rel="self" type="application/rss+xml" />
  <link>https://riverbend.example.org</link>
  <description>Back care from our physical therapists</description>
  <lastBuildDate>Tue, 24 Nov 2026 14:02:11 +0000</lastBuildDate>
  <language>en-US</language>
  <generator>https://wordpress.org/?v=6.7.1</generator>
  <item>
    <title>Sciatica: What&#8217;s Normal &#038; When to Call Us</title>
    <link>https://riverbend.example.org/2026/11/sciatica-whats-normal/</link>
    <comments>https://riverbend.example.org/2026/11/sciatica-whats-normal/#respond</comments>
    <dc:creator><![CDATA[Priya Raman, PT]]></dc:creator>
    <pubDate>Mon, 23 Nov 2026 13:00:00 +0000</pubDate>
    <category><![CDATA[Sciatica]]></category>
    <category><![CDATA[Nerve Pain]]></category>
    <category><![CDATA[Self-care]]></category>
    <guid isPermaLink="false">https://riverbend.example.org/?p=412</guid>
    <description><![CDATA[Sciatica is pain that travels from the lower back down one leg. Most flare-ups settle within six weeks with gentle movement and [&#8230;]</p>
<p>The post <a href="https://riverbend.example.org/2026/11/sciatica-whats-normal/">Sciatica: What&#8217;s Normal &#038; When to Call Us</a> appeared first on <a href="https://riverbend.example.org">Riverbend Pain &#038; Spine Clinic</a>.</p>
]]></description>
    <content:encoded><![CDATA[[vc_row][vc_column][vc_column_text]<p><img class="wp-image-77" src="https://riverbend.example.org/wp-content/uploads/2026/11/leg-stretch-1024x683.jpg" alt="A woman stretching her leg on a yoga mat" width="1024" height="683" /></p>
<p>Sciatica is pain that travels from the lower back down one leg. Most flare-ups settle within six weeks with gentle movement and simple self-care at home.</p>
<p>Call us the same day if you notice numbness in the groin, weakness in a foot or trouble controlling your bladder. Those signs need a doctor quickly, not a stretch.</p>
<p>Otherwise, keep walking a little every few hours, and avoid long spells in bed.</p>[/vc_column_text][/vc_column][/vc_row]
<p>The post <a href="https://riverbend.example.org/2026/11/sciatica-whats-normal/">Sciatica: What&#8217;s Normal &#038; When to Call Us</a> appeared first on <a href="https://riverbend.example.org">Riverbend Pain &#038; Spine Clinic</a>.</p>
]]></content:encoded>
    <enclosure url="https://riverbend.example.org/wp-content/uploads/2026/11/leg-stretch.jpg" length="84512" type="image/jpeg" />
    <slash:comments>0</slash:comments>
  </item>
  <item>
    <title>Five Desk Stretches You Can Do Today</title>
    <link>https://riverbend.example.org/2026/11/five-desk-stretches/</link>
    <dc:creator><![CDATA[Tom Lindqvist, DPT]]></dc:creator>
    <pubDate>Thu, 19 Nov 2026 15:30:00 +0000</pubDate>
    <category><![CDATA[Exercise]]></category>
    <guid isPermaLink="false">https://riverbend.example.org/?p=405</guid>
    <description><![CDATA[Sitting still for hours stiffens the back and hips. These five stretches take under a minute each and need nothing but your chair. Continue reading <span class="screen-reader-text">Five Desk Stretches You Can Do Today</span> &#8594;]]></description>
    <content:encoded><![CDATA[<p><img src="https://riverbend.example.org/wp-content/uploads/2026/11/desk.jpg" /></p><p>Sitting still for hours stiffens the back and hips. These five stretches take under a minute each and need nothing but your chair.</p>]]></content:encoded>
  </item>
  <item>
    <title>Our Old Clinic Hours</title>
    <link>http://riverbend.example.org/2019/01/clinic-hours/</link>
    <dc:creator><![CDATA[Front Desk]]></dc:creator>
    <pubDate>Wed, 02 Jan 2019 10:00:00 +0000</pubDate>
    <guid isPermaLink="false">http://riverbend.example.org/?p=12</guid>
    <description><![CDATA[We are open Monday to Friday, 8 to 6, and Saturday mornings for urgent visits.]]></description>
  </item>
</channel>
</rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Riverbend Notes</title>
  <link href="https://notes.riverbend.example.org/"/>
  <updated>2026-11-20T09:00:00Z</updated>
  <author><name>Riverbend Clinic Team</name></author>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <entry>
    <title type="html">Heat &amp;amp; Ice: A Quick Guide</title>
    <link href="https://notes.riverbend.example.org/heat-and-ice"/>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <updated>2026-11-20T09:00:00Z</updated>
    <category term="self-care"/>
    <category term="Heat"/>
    <summary>Ice calms a fresh strain in the first two days; after that, warmth loosens stiff muscles. Use either for 15 to 20 minutes, with a cloth between the pack and your skin.</summary>
  </entry>
</feed>
"""

BROKEN = """<?xml version="1.0"?><rss version="2.0"><channel><title>Broken
<item><title>Unclosed</title><link>https://riverbend.example.org/x</link></channel>"""

ARTICLE_PAGE = """<!doctype html>
<html lang="en"><head>
<meta charset="utf-8">
<title>Lifting Groceries Without Hurting Your Back | Riverbend</title>
<meta property="og:type" content="article">
<meta property="og:title" content="Lifting Groceries Without Hurting Your Back">
<meta property="og:url" content="https://riverbend.example.org/2026/11/lifting-groceries/">
<meta property="og:site_name" content="Riverbend Pain &amp; Spine Clinic">
<meta property="og:description" content="Bend your knees, keep the bag close and turn with your feet, not your waist. Three habits that make the weekly shop easy on your back.">
<meta property="og:image" content="https://riverbend.example.org/wp-content/uploads/2026/11/groceries.jpg">
<meta property="og:image:alt" content="A man carrying two shopping bags close to his body">
<meta property="article:published_time" content="2026-11-21T08:15:00-05:00">
<meta property="article:section" content="Everyday Life">
<meta property="article:tag" content="Lifting">
<meta property="article:tag" content="Shopping">
<meta name="author" content="Dana Okafor, PT">
</head><body>
<header><nav><a href="/">Home</a> <a href="/blog/">Blog</a></nav></header>
<main><article><h1>Lifting Groceries Without Hurting Your Back</h1>
<p>Bend your knees, keep the bag close and turn with your feet, not your waist.</p>
<p>Split heavy loads into two bags so both arms share the work.</p></article></main>
<footer>Sign up for our weekly newsletter</footer>
</body></html>
"""
