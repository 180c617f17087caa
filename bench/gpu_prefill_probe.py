"""Prefill and decode speed of a LLaVA-1.6-vicuna-13B-shaped language model on one GPU.

No vLLM and no weights on the GPU machine: a Llama with vicuna-13B's shape (40 layers,
5,120 wide, 40 heads, MLP 13,824, vocabulary 32,064) and random bf16 weights, plain
PyTorch + transformers (SDPA attention, no CUDA graphs, no paged KV). Prefill: the
median of 5 forward passes of B sequences of 2,435 tokens (the reference study's prompt
with its image); decode: the median time of one new token over that cached context.
Prints and writes $OUT/probe.json: pre = [B, s, tokens/s, MFU at 989 TFLOP/s],
dec = [B, s per step, tokens/s]. Numbers in bench/README.md ("rating-only on one H100").
This is the exact code that ran (it was sent inline to the GPU machine).
"""
# ruff: noqa
import time,json,torch,os
from transformers import LlamaConfig,LlamaForCausalLM
c=LlamaConfig(hidden_size=5120,intermediate_size=13824,num_hidden_layers=40,num_attention_heads=40,num_key_value_heads=40,vocab_size=32064,max_position_embeddings=4096)
c._attn_implementation="sdpa"
with torch.device("cuda"):
 m=LlamaForCausalLM(c).to(torch.bfloat16).eval()
n=sum(p.numel() for p in m.parameters());L=2435;S=torch.cuda.synchronize
def T(f,r=5,w=2):
 for _ in range(w):f()
 S();t=[]
 for _ in range(r):
  a=time.perf_counter();f();S();t.append(time.perf_counter()-a)
 return sorted(t)[r//2]
o={"dev":torch.cuda.get_device_name(),"params":n,"pre":[],"dec":[]}
with torch.inference_mode():
 for b in (1,4,8):
  i=torch.randint(0,32064,(b,L),device="cuda")
  s=T(lambda:m(input_ids=i,use_cache=False,logits_to_keep=1))
  o["pre"].append([b,s,b*L/s,b*L*2*n/s/989e12]);print("prefill",o["pre"][-1],flush=True)
 for b in (1,16):
  i=torch.randint(0,32064,(b,L),device="cuda")
  p=m(input_ids=i,use_cache=True,logits_to_keep=1).past_key_values
  x=torch.randint(0,32064,(b,1),device="cuda")
  def st():
   m(input_ids=x,past_key_values=p,use_cache=True,logits_to_keep=1);p.crop(L)
  s=T(st,10,3);o["dec"].append([b,s,b/s]);print("decode",o["dec"][-1],flush=True)
  del p;torch.cuda.empty_cache()
json.dump(o,open(os.environ["OUT"]+"/probe.json","w"))
