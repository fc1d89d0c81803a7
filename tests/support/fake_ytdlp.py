#!/usr/bin/env python3
"""A stand-in for yt-dlp's command line where the real service cannot exist here (YouTube).

It accepts the options omega passes, logs every invocation (one JSON array of argv per line)
to $FAKE_YTDLP_LOG, and behaves like yt-dlp does against YouTube:
  ytsearchN:QUERY  prints $FAKE_YTDLP_SEARCH (yt-dlp's --dump-single-json playlist fields),
                   truncated to N entries, with the query filled in
  watch?v=ID       IDs starting with `botcheck` / `ratelimit` / `forbidden` / `removed` /
                   `liveevent` fail with yt-dlp's own messages; any other id "downloads" by
                   copying $FAKE_YTDLP_MEDIA to the -o template
Anything after `--` is a URL, never an option, as in yt-dlp.

With $FAKE_YTDLP_POOL (media files joined by `:`) search is a stream of fresh results, as
YouTube's results change between searches: every search returns the next $FAKE_YTDLP_PAGE
entries (ids `omega000000`, `omega000001`, ... counted in $FAKE_YTDLP_LOG.page; titles carry
the query), and `omegaNNNNNN` downloads the pool's file NNNNNN modulo its length.
"""
import json
import os
import shutil
import sys

MESSAGES = {
    "botcheck": "ERROR: [youtube] {id}: Sign in to confirm you\u2019re not a bot. Use --cookies-from-browser or --cookies for the authentication.",
    "ratelimit": "ERROR: [youtube] {id}: Unable to download API page: HTTP Error 429: Too Many Requests",
    "forbidden": "ERROR: unable to download video data: HTTP Error 403: Forbidden",
    "removed": "ERROR: [youtube] {id}: Video unavailable. This video has been removed by the uploader",
    "liveevent": "ERROR: [youtube] {id}: This live event will begin in 5 hours.",
}


def pool():
    return os.environ["FAKE_YTDLP_POOL"].split(":")


def next_page(query, n):
    counter = os.environ["FAKE_YTDLP_LOG"] + ".page"
    first = int(open(counter).read()) if os.path.exists(counter) else 0
    size = min(n, int(os.environ.get("FAKE_YTDLP_PAGE", n)))
    with open(counter, "w") as f:
        f.write(str(first + size))
    return [
        {"_type": "url", "ie_key": "Youtube", "id": f"omega{k:06d}",
         "url": f"https://www.youtube.com/watch?v=omega{k:06d}",
         "title": f"{query} {k}", "description": query, "duration": 30.0,
         "channel": "Omega Test", "view_count": 1000 + k}
        for k in range(first, first + size)
    ]


def pool_file(video_id):
    if "FAKE_YTDLP_POOL" not in os.environ or not video_id.startswith("omega"):
        return None
    files = pool()
    return files[int(video_id[5:]) % len(files)]


def main(argv):
    with open(os.environ["FAKE_YTDLP_LOG"], "a") as log:
        log.write(json.dumps(argv) + "\n")
    if "--" not in argv:
        print("ERROR: omega must pass URLs after --", file=sys.stderr)
        return 2
    sep = argv.index("--")
    opts, urls = argv[:sep], argv[sep + 1:]
    if len(urls) != 1:
        print("ERROR: expected one URL", file=sys.stderr)
        return 2
    url = urls[0]
    if url.startswith("ytsearch"):
        n_text, query = url[len("ytsearch"):].split(":", 1)
        if "FAKE_YTDLP_POOL" in os.environ:
            playlist = {"_type": "playlist", "entries": next_page(query, int(n_text))}
        else:
            with open(os.environ["FAKE_YTDLP_SEARCH"]) as f:
                playlist = json.load(f)
            playlist["entries"] = playlist["entries"][: int(n_text)]
        playlist["id"] = playlist["title"] = query
        print(json.dumps(playlist))
        return 0
    video_id = url.split("watch?v=", 1)[-1]
    for prefix, message in MESSAGES.items():
        if video_id.startswith(prefix):
            print(message.format(id=video_id), file=sys.stderr)
            return 1
    template = opts[opts.index("-o") + 1]
    if "--skip-download" in opts and "--write-subs" in opts:
        subs = os.environ.get("FAKE_YTDLP_SUBS")
        if subs:
            shutil.copyfile(subs, template.replace("%(ext)s", "en.vtt"))
        return 0
    src = pool_file(video_id) or os.environ["FAKE_YTDLP_MEDIA"]
    shutil.copyfile(src, template.replace("%(ext)s", src.rsplit(".", 1)[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
