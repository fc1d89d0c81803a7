"""The real Python bittensor SDK (9.10.1) as a peer of omega's axon and dendrite, offline.

Run with the SDK's virtual environment ($OMEGA_BITTENSOR_PYTHON). Only what
../shared/spec/bittensor.md section 7 lists is patched: the public-IP lookup, the Axon's bind
host, and its command-line parsing. `Videos` is written as OMEGA's omega/protocol.py defines it.

  dendrite --wallet-path D --name N --hotkey H --axon-port P --axon-hotkey SS58 --query Q
           [--timeout S] [--count K]
      queries an axon K times concurrently, from K dendrites; prints {"results": [{"status_code", "status_message",
      "videos", "embedding_lengths", "video_ids", "process_time"}]}
  axon --wallet-path D --name N --hotkey H --port P
      serves Videos (two fixed 1024-d videos per answer) until killed; prints {"ready": port}
"""

import argparse
import asyncio
import json
import os
import sys

ANSWER = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
ARGS = sys.argv[1:]
sys.argv = sys.argv[:1]

from typing import List, Optional  # noqa: E402

import pydantic  # noqa: E402
import bittensor as bt  # noqa: E402
import bittensor.utils.networking as networking  # noqa: E402

networking.get_external_ip = lambda: "127.0.0.1"


class VideoMetadata(pydantic.BaseModel):
    video_id: str
    description: str
    views: int
    start_time: int
    end_time: int
    video_emb: List[float]
    audio_emb: List[float]
    description_emb: List[float]


class Videos(bt.Synapse):
    query: str
    num_videos: int
    video_metadata: Optional[List[VideoMetadata]] = None

    def deserialize(self) -> List[VideoMetadata]:
        return self.video_metadata


def say(obj):
    ANSWER.write(json.dumps(obj) + "\n")
    ANSWER.flush()


def wallet(args):
    return bt.Wallet(name=args.name, hotkey=args.hotkey, path=args.wallet_path)


async def query(args):
    # One Dendrite per call, as K validators would have (each with its own uuid): one
    # dendrite's concurrent calls would race its own strictly increasing nonces.
    dendrites = [bt.Dendrite(wallet=wallet(args)) for _ in range(args.count)]
    target = bt.AxonInfo(version=9010001, ip="127.0.0.1", port=args.axon_port, ip_type=4,
                         hotkey=args.axon_hotkey, coldkey=args.axon_hotkey)
    calls = [d.call(target, Videos(query=args.query, num_videos=8), timeout=args.timeout,
                    deserialize=False) for d in dendrites]
    results = []
    for synapse in await asyncio.gather(*calls):
        videos = synapse.video_metadata or []
        results.append({
            "status_code": int(synapse.dendrite.status_code) if synapse.dendrite.status_code is not None else None,
            "status_message": synapse.dendrite.status_message,
            "videos": len(videos),
            "video_ids": [v.video_id for v in videos],
            "embedding_lengths": sorted({len(e) for v in videos for e in (v.video_emb, v.audio_emb, v.description_emb)}),
            "process_time": synapse.dendrite.process_time,
        })
    for d in dendrites:
        await d.aclose_session()
    say({"results": results})


def serve(args):
    def forward(synapse: Videos) -> Videos:
        emb = [0.001 * i for i in range(1024)]
        synapse.video_metadata = [
            VideoMetadata(video_id=f"vid{i:08d}", description=f"answer to {synapse.query}", views=i,
                          start_time=0, end_time=60, video_emb=emb, audio_emb=emb, description_emb=emb)
            for i in range(2)
        ]
        return synapse

    axon = bt.Axon(wallet=wallet(args), port=args.port, ip="127.0.0.1", external_ip="127.0.0.1")
    axon.attach(forward_fn=forward)
    axon.fast_config.host = "127.0.0.1"
    axon.start()
    import time
    while not axon.fast_server.started:
        time.sleep(0.05)
    say({"ready": args.port})
    while True:
        time.sleep(1)


def main():
    top = argparse.ArgumentParser()
    sub = top.add_subparsers(dest="command", required=True)
    for name in ("dendrite", "axon"):
        p = sub.add_parser(name)
        p.add_argument("--wallet-path", required=True)
        p.add_argument("--name", required=True)
        p.add_argument("--hotkey", required=True)
    d = sub.choices["dendrite"]
    d.add_argument("--axon-port", type=int, required=True)
    d.add_argument("--axon-hotkey", required=True)
    d.add_argument("--query", required=True)
    d.add_argument("--timeout", type=float, default=30.0)
    d.add_argument("--count", type=int, default=1)
    sub.choices["axon"].add_argument("--port", type=int, required=True)
    args = top.parse_args(ARGS)
    if args.command == "dendrite":
        asyncio.run(query(args))
    else:
        serve(args)


if __name__ == "__main__":
    main()
