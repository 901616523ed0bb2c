//! Comments are public input: no markup a stranger sends survives into
//! `body_html`, and the commenter's e-mail address never leaves the service.

use newsdesk::proto as pb;
use prost::Message;

use crate::{
    comments::{comment, post, published},
    support::TestApp,
};

/// Script injection attempts a stranger might send.
fn xss_corpus() -> Vec<String> {
    let payloads = [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=http://x.example/x.js></SCRIPT>",
        "<img src=x onerror=alert(1)>",
        "<svg onload=alert(1)>",
        "<body onload=alert('x')>",
        "<iframe src=\"javascript:alert(1)\"></iframe>",
        "<a href=\"javascript:alert(1)\">click</a>",
        "<a href='data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=='>x</a>",
        "javascript:alert(document.cookie)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "\"><script>alert(1)</script>",
        "'><img src=x onerror=alert(1)>",
        "<div style=\"background:url(javascript:alert(1))\">",
        "<input autofocus onfocus=alert(1)>",
        "<details open ontoggle=alert(1)>",
        "<marquee onstart=alert(1)>",
        "<video><source onerror=\"alert(1)\">",
        "<object data=\"javascript:alert(1)\">",
        "<embed src=\"javascript:alert(1)\">",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        "<scr<script>ipt>alert(1)</scr</script>ipt>",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "<<script>script>alert(1)<</script>/script>",
        "<a href=\"https://ok.example\" onclick=\"alert(1)\">x</a>",
        "https://example.com/\"onmouseover=\"alert(1)",
        "https://example.com/<script>alert(1)</script>",
        "http://example.com/'><svg/onload=alert(1)>",
        "https://example.com/?q=\"><img src=x onerror=alert(1)>",
        "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
        "<link rel=stylesheet href=javascript:alert(1)>",
        "<form action=javascript:alert(1)><button>x</button></form>",
        "<button formaction=javascript:alert(1)>x</button>",
        "<isindex action=javascript:alert(1) type=image>",
        "<table background=\"javascript:alert(1)\">",
        "<base href=\"javascript:alert(1)//\">",
        "<textarea onfocus=alert(1) autofocus>",
        "<keygen autofocus onfocus=alert(1)>",
        "<audio src=x onerror=alert(1)>",
        "<style>@import 'javascript:alert(1)';</style>",
        "<img src=\"x\" alt=\"`\" onerror=\"alert(1)\">",
        "<img src=x:alert(alt) onerror=eval(src) alt=0>",
        "<svg><script>alert(1)</script></svg>",
        "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
        "<template><script>alert(1)</script></template>",
        "\u{003C}script\u{003E}alert(1)\u{003C}/script\u{003E}",
        "<a href=\"vbscript:msgbox(1)\">x</a>",
        "<img src=\"jav&#x09;ascript:alert(1)\">",
        "<a href=\"&#106;avascript:alert(1)\">x</a>",
        "<svg><a xlink:href=\"javascript:alert(1)\"><text>x</text></a></svg>",
        "<x onclick=alert(1)>click",
        "<img src=1 onerror=alert(1)//",
        "تعليق عربي <script>alert('مرحبا')</script> مع نص",
        "https://example.com/path?a=1&b=<b>2</b>",
    ];
    payloads.iter().map(|payload| payload.to_string()).collect()
}

#[tokio::test]
async fn no_markup_from_a_stranger_survives_into_body_html() {
    let app = TestApp::spawn().await;
    let article = published(&app, "خبر للاختبار").await;
    let corpus = xss_corpus();
    assert!(corpus.len() >= 50);
    for (i, payload) in corpus.iter().enumerate() {
        let posted = post(
            &app,
            comment(&article.id, "", &format!("قارئ {i}"), payload),
        )
        .await
        .unwrap_or_else(|status| panic!("{payload}: {status:?}"));
        assert_eq!(
            &posted.body, payload,
            "the body is kept as the plain text it was"
        );
        let html = posted.body_html.to_lowercase();
        assert!(!html.contains("<script"), "{payload} -> {html}");
        assert!(
            !html.contains("<img") && !html.contains("<svg") && !html.contains("<iframe"),
            "{payload} -> {html}"
        );
        // No attribute but href and rel survives on any tag.
        for tag in html.split('<').skip(1) {
            let tag = tag.split('>').next().unwrap_or_default();
            let name = tag.split_whitespace().next().unwrap_or_default();
            assert!(
                ["p", "/p", "br", "a", "/a"].contains(&name),
                "{payload}: unexpected tag <{tag}>"
            );
            if name == "a" {
                // The only link a comment gets: an http(s) href, then the rel,
                // and nothing else.
                let (url, rest) = tag
                    .strip_prefix("a href=\"")
                    .and_then(|rest| rest.split_once('"'))
                    .unwrap_or_else(|| panic!("{payload}: link {tag}"));
                assert!(
                    url.starts_with("http://") || url.starts_with("https://"),
                    "{payload}: link {tag}"
                );
                assert_eq!(
                    rest, " rel=\"ugc nofollow noopener\"",
                    "{payload}: link {tag}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_commenters_email_is_never_returned_and_retries_create_once() {
    let app = TestApp::spawn().await;
    let article = published(&app, "خبر").await;
    let email = "reader.private@example.com";
    let request = pb::CreateCommentRequest {
        comment: Some(pb::Comment {
            author_email: email.into(),
            ..comment(&article.id, "", "قارئ", "تعليق")
        }),
        request_id: "7d9f7a3e-2b1c-4d5e-8f90-a1b2c3d4e5f6".into(),
    };
    let mut comments = app.comments.clone();
    let first = comments
        .create_comment(request.clone())
        .await
        .expect("first")
        .into_inner();
    let retry = comments
        .create_comment(request)
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, retry);

    let mut bytes = first.encode_to_vec();
    bytes.extend(
        comments
            .get_comment(pb::GetCommentRequest {
                id: first.id.clone(),
            })
            .await
            .expect("get")
            .into_inner()
            .encode_to_vec(),
    );
    bytes.extend(
        comments
            .list_comments(pb::ListCommentsRequest {
                article_id: article.id.clone(),
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner()
            .encode_to_vec(),
    );
    bytes.extend(
        comments
            .list_comments_for_moderation(pb::ListCommentsForModerationRequest {
                status: pb::CommentStatus::Approved.into(),
                ..Default::default()
            })
            .await
            .expect("queue")
            .into_inner()
            .encode_to_vec(),
    );
    bytes.extend(
        app.events
            .clone()
            .list_events(pb::ListEventsRequest {
                types: vec!["comment.created".into()],
                ..Default::default()
            })
            .await
            .expect("events")
            .into_inner()
            .encode_to_vec(),
    );
    let needle = email.as_bytes();
    assert!(
        !bytes.windows(needle.len()).any(|window| window == needle),
        "the e-mail address leaked"
    );
}
