"""Example class of 03_training (the format: tests/submissions/common.py): what each made-up student wrote
for cross_entropy (ce_solution), train_epoch (loop_solution) and dropout (dropout_solution), and the points
an instructor reading the exercise text gives: correct code in any style earns them; a wrong value, a loss
that overflows, an update that is not the optimiser's, a dropout that is not inverted dropout, or a call of
what the text forbids (torch's softmax / log_softmax / cross_entropy family, cnnlib's training functions,
torch's dropout) under any name does not.

Points: ce_tests 2, loop_tests 2, dropout_tests 2.
"""
from __future__ import annotations

from submissions.common import BLANK, SOLUTION, full_points

ASSIGNMENT = "03_training"
NOTEBOOK = "training"

POINTS = {"ce_tests": 2, "loop_tests": 2, "dropout_tests": 2}


def points(**got: int) -> dict[str, int]:
    return full_points(POINTS, **got)


# --- cross_entropy: correct in four more styles ----------------------------------------------------------

CE_ONEHOT = '''
# Exercise 1: mean cross-entropy of a batch of logits (your solution), true logits picked by a one-hot mask
def cross_entropy(logits, targets):
    shift = logits - logits.amax(dim=1, keepdim=True)
    log_norm = torch.log(shift.exp().sum(dim=1))
    onehot = F.one_hot(targets, num_classes=logits.shape[1]).to(logits.dtype)
    return (log_norm - (onehot * shift).sum(dim=1)).mean()
'''

CE_ROW_LOOP = '''
# Exercise 1: mean cross-entropy of a batch of logits (your solution), one image at a time
def cross_entropy(logits, targets):
    losses = []
    for row, target in zip(logits, targets):
        top = row.max()
        losses.append(top + torch.log(torch.sum(torch.exp(row - top))) - row[target])
    return torch.stack(losses).sum() / len(losses)
'''

CE_LOG_PROBS = '''
# Exercise 1: mean cross-entropy of a batch of logits (your solution): log-probabilities by hand, then pick
def cross_entropy(logits, targets):
    biggest, _ = torch.max(logits, 1, keepdim=True)
    log_probs = logits - biggest - (logits - biggest).exp().sum(1, keepdim=True).log()
    picked = log_probs[torch.arange(logits.shape[0]), targets]
    return -picked.mean()
'''

CE_FLOAT64 = '''
# Exercise 1: mean cross-entropy of a batch of logits (your solution), in float64 and back
def cross_entropy(logits, targets):
    z = logits.double()
    m = z.max(dim=-1).values
    lse = m + torch.log(torch.exp(z - m[:, None]).sum(dim=-1))
    nll = lse - z.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return nll.mean().to(logits.dtype)
'''

# --- cross_entropy: wrong ----------------------------------------------------------------------------------

CE_NO_SHIFT = '''
# Exercise 1: mean cross-entropy of a batch of logits (your solution), straight from the formula
def cross_entropy(logits, targets):
    log_sum = torch.log(torch.exp(logits).sum(dim=1))
    return (log_sum - logits[torch.arange(len(targets)), targets]).mean()
'''

CE_SUM = '''
# Exercise 1: mean cross-entropy of a batch of logits (your solution), summed over the batch
def cross_entropy(logits, targets):
    m = logits.max(dim=1, keepdim=True).values
    log_sum = m.squeeze(1) + torch.log(torch.exp(logits - m).sum(dim=1))
    return (log_sum - logits[torch.arange(len(targets)), targets]).sum()
'''

CE_LOG_OF_SOFTMAX = '''
# Exercise 1: mean cross-entropy of a batch of logits (your solution): a stable softmax by hand, then its log
def cross_entropy(logits, targets):
    e = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
    probs = e / e.sum(dim=1, keepdim=True)
    return -torch.log(probs[torch.arange(len(targets)), targets]).mean()
'''

CE_LOG_SOFTMAX_METHOD = '''
# Exercise 1: mean cross-entropy of a batch of logits (your solution) with the tensor method log_softmax
def cross_entropy(logits, targets):
    return -logits.log_softmax(dim=1)[torch.arange(len(targets)), targets].mean()
'''

CE_LOSS_MODULE = '''
# Exercise 1: mean cross-entropy of a batch of logits (your solution) through the loss module, renamed
from torch.nn import CrossEntropyLoss as Criterion


def cross_entropy(logits, targets):
    return Criterion()(logits, targets)
'''

# --- train_epoch: correct in four more styles ------------------------------------------------------------

LOOP_SPLIT = '''
# Exercise 2: one epoch of training (your solution): split into batches, a loss module, net.zero_grad()
def train_epoch(net, optimizer, X, y, batch_size):
    criterion = nn.CrossEntropyLoss()
    history = []
    for xb, yb in zip(X.split(batch_size), y.split(batch_size)):
        net.zero_grad()
        loss = criterion(net(xb), yb)
        loss.backward()
        optimizer.step()
        history.append(float(loss))
    return history
'''

LOOP_DATALOADER = '''
# Exercise 2: one epoch of training (your solution) with a DataLoader that does not shuffle
from torch.utils.data import DataLoader, TensorDataset


def train_epoch(net, optimizer, X, y, batch_size):
    losses = []
    for xb, yb in DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=False):
        optimizer.zero_grad(set_to_none=True)
        out = net(xb)
        loss = F.cross_entropy(out, yb)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach().item())
    return losses
'''

LOOP_WHILE = '''
# Exercise 2: one epoch of training (your solution) with a while loop and a running position
def train_epoch(net, optimizer, X, y, batch_size):
    losses, i = [], 0
    while i < len(X):
        j = min(i + batch_size, len(X))
        optimizer.zero_grad()
        loss = F.cross_entropy(net(X[i:j]), y[i:j], reduction="mean")
        loss.backward()
        optimizer.step()
        losses += [loss.item()]
        i = j
    return losses
'''

LOOP_CEIL = '''
# Exercise 2: one epoch of training (your solution): the number of iterations first, zero_grad after step
import math


def train_epoch(net, optimizer, X, y, batch_size):
    optimizer.zero_grad()  # clear what an earlier backward left
    losses = []
    for b in range(math.ceil(len(X) / batch_size)):
        batch = slice(b * batch_size, (b + 1) * batch_size)
        loss = F.cross_entropy(net(X[batch]), y[batch])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses
'''

# --- train_epoch: wrong ------------------------------------------------------------------------------------

LOOP_NO_ZERO_GRAD = '''
# Exercise 2: one epoch of training (your solution), without clearing the gradients
def train_epoch(net, optimizer, X, y, batch_size):
    losses = []
    for start in range(0, len(X), batch_size):
        loss = F.cross_entropy(net(X[start:start + batch_size]), y[start:start + batch_size])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
'''

LOOP_STEP_FIRST = '''
# Exercise 2: one epoch of training (your solution), step before backward
def train_epoch(net, optimizer, X, y, batch_size):
    losses = []
    for start in range(0, len(X), batch_size):
        loss = F.cross_entropy(net(X[start:start + batch_size]), y[start:start + batch_size])
        optimizer.zero_grad()
        optimizer.step()
        loss.backward()
        losses.append(loss.item())
    return losses
'''

LOOP_DROP_LAST = '''
# Exercise 2: one epoch of training (your solution): only full batches
def train_epoch(net, optimizer, X, y, batch_size):
    losses = []
    for b in range(len(X) // batch_size):
        xb, yb = X[b * batch_size:(b + 1) * batch_size], y[b * batch_size:(b + 1) * batch_size]
        optimizer.zero_grad()
        loss = F.cross_entropy(net(xb), yb)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
'''

LOOP_OWN_OPTIMIZER = '''
# Exercise 2: one epoch of training (your solution) with an SGD optimiser of its own
def train_epoch(net, optimizer, X, y, batch_size):
    sgd = torch.optim.SGD(net.parameters(), lr=0.1)
    losses = []
    for start in range(0, len(X), batch_size):
        sgd.zero_grad()
        loss = F.cross_entropy(net(X[start:start + batch_size]), y[start:start + batch_size])
        loss.backward()
        sgd.step()
        losses.append(loss.item())
    return losses
'''

LOOP_ZERO_BEFORE_STEP = '''
# Exercise 2: one epoch of training (your solution), gradients cleared between backward and step
def train_epoch(net, optimizer, X, y, batch_size):
    losses = []
    for start in range(0, len(X), batch_size):
        loss = F.cross_entropy(net(X[start:start + batch_size]), y[start:start + batch_size])
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
        losses.append(loss.item())
    return losses
'''

# --- dropout: correct in four more styles ------------------------------------------------------------------

DROP_BERNOULLI = '''
# Exercise 3: inverted dropout (your solution) with torch.bernoulli
def dropout(x, p, training=True):
    if training:
        mask = torch.bernoulli(torch.full_like(x, 1 - p))
        return x * mask / (1 - p)
    return x
'''

DROP_WHERE = '''
# Exercise 3: inverted dropout (your solution) with torch.where
def dropout(x, p, training=True):
    if not training:
        return x.clone()
    dropped = torch.rand_like(x) < p
    return torch.where(dropped, torch.zeros_like(x), x / (1 - p))
'''

DROP_MASKED_FILL = '''
# Exercise 3: inverted dropout (your solution): rescale everything, then fill the dropped entries with 0
def dropout(x, p, training=True):
    if training is False:
        return x
    scaled = x * (1.0 / (1.0 - p))
    return scaled.masked_fill(torch.rand(x.shape) < p, 0.0)
'''

DROP_BERNOULLI_INPLACE_MASK = '''
# Exercise 3: inverted dropout (your solution): a mask filled in place by bernoulli_
def dropout(x, p, training=True):
    out = x
    if training:
        keep = torch.empty_like(x).bernoulli_(1 - p)
        out = keep.mul_(x).div_(1 - p)
    return out
'''

# --- dropout: wrong ----------------------------------------------------------------------------------------

DROP_NO_RESCALE = '''
# Exercise 3: dropout (your solution) that does not rescale what it keeps
def dropout(x, p, training=True):
    if not training:
        return x
    return x * (torch.rand(x.shape) >= p)
'''

DROP_ALWAYS = '''
# Exercise 3: dropout (your solution) that ignores training=False
def dropout(x, p, training=True):
    keep = (torch.rand(x.shape) >= p).float()
    return x * keep / (1 - p)
'''

DROP_KEEP_P = '''
# Exercise 3: dropout (your solution) that keeps an entry with probability p
def dropout(x, p, training=True):
    if not training:
        return x
    keep = torch.rand_like(x) < p
    return x * keep / (1 - p)
'''

DROP_FIXED_MASK = '''
# Exercise 3: dropout (your solution) that draws one mask per shape and reuses it
_masks = {}


def dropout(x, p, training=True):
    if not training:
        return x
    key = (tuple(x.shape), p)
    if key not in _masks:
        _masks[key] = (torch.rand(x.shape) >= p).to(x.dtype)
    return x * _masks[key] / (1 - p)
'''

DROP_FUNCTIONAL_ALIAS = '''
# Exercise 3: dropout (your solution) through torch's own, imported under another name
from torch.nn.functional import dropout as torch_drop


def dropout(x, p, training=True):
    return torch_drop(x, p=p, training=training)
'''

#: student -> (what is special about the submission, answers by solution cell, expected points by graded cell)
STUDENTS: dict[str, tuple[str, dict[str, str], dict[str, int]]] = {
    "full": ("the instructor's solution in every cell",
             {"ce_solution": SOLUTION, "loop_solution": SOLUTION, "dropout_solution": SOLUTION}, points()),
    "blank": ("the released notebook, handed in untouched",
              {"ce_solution": BLANK, "loop_solution": BLANK, "dropout_solution": BLANK},
              {cell: 0 for cell in POINTS}),
    "onehot_nozero_bernoulli": ("CE correct with a one-hot mask; the loop never clears the gradients; "
                                "dropout correct with torch.bernoulli",
                                {"ce_solution": CE_ONEHOT, "loop_solution": LOOP_NO_ZERO_GRAD,
                                 "dropout_solution": DROP_BERNOULLI}, points(loop_tests=0)),
    "rowloop_split_norescale": ("CE correct one row at a time; the loop correct with split() and a loss module; "
                                "dropout keeps entries without the 1/(1-p) rescale",
                                {"ce_solution": CE_ROW_LOOP, "loop_solution": LOOP_SPLIT,
                                 "dropout_solution": DROP_NO_RESCALE}, points(dropout_tests=0)),
    "logprobs_stepfirst_where": ("CE correct via log-probabilities by hand; the loop steps before backward; "
                                 "dropout correct with torch.where",
                                 {"ce_solution": CE_LOG_PROBS, "loop_solution": LOOP_STEP_FIRST,
                                  "dropout_solution": DROP_WHERE}, points(loop_tests=0)),
    "float64_dataloader_always": ("CE correct in float64 and back; the loop correct with an unshuffled "
                                  "DataLoader; dropout also drops when training=False",
                                  {"ce_solution": CE_FLOAT64, "loop_solution": LOOP_DATALOADER,
                                   "dropout_solution": DROP_ALWAYS}, points(dropout_tests=0)),
    "noshift_while_maskedfill": ("CE without the max subtracted (inf on large logits); the loop correct as a "
                                 "while loop; dropout correct with masked_fill",
                                 {"ce_solution": CE_NO_SHIFT, "loop_solution": LOOP_WHILE,
                                  "dropout_solution": DROP_MASKED_FILL}, points(ce_tests=0)),
    "sum_droplast_keepp": ("CE summed over the batch; the loop skips the last, smaller batch; dropout keeps "
                           "with probability p",
                           {"ce_solution": CE_SUM, "loop_solution": LOOP_DROP_LAST, "dropout_solution": DROP_KEEP_P},
                           points(ce_tests=0, loop_tests=0, dropout_tests=0)),
    "logofsoftmax_ceil_fixedmask": ("CE as the log of a stable softmax (inf for a confident mistake); the loop "
                                    "correct, counting iterations and clearing after step; dropout reuses one "
                                    "mask per shape",
                                    {"ce_solution": CE_LOG_OF_SOFTMAX, "loop_solution": LOOP_CEIL,
                                     "dropout_solution": DROP_FIXED_MASK}, points(ce_tests=0, dropout_tests=0)),
    "method_ownopt_bernoulli_": ("CE through the tensor method log_softmax (forbidden); the loop makes its own "
                                 "SGD; dropout correct with an in-place bernoulli_ mask",
                                 {"ce_solution": CE_LOG_SOFTMAX_METHOD, "loop_solution": LOOP_OWN_OPTIMIZER,
                                  "dropout_solution": DROP_BERNOULLI_INPLACE_MASK}, points(ce_tests=0, loop_tests=0)),
    "module_zerobeforestep_alias": ("CE through nn.CrossEntropyLoss renamed (forbidden); the loop clears the "
                                    "gradients between backward and step; dropout through F.dropout renamed "
                                    "(forbidden)",
                                    {"ce_solution": CE_LOSS_MODULE, "loop_solution": LOOP_ZERO_BEFORE_STEP,
                                     "dropout_solution": DROP_FUNCTIONAL_ALIAS},
                                    {cell: 0 for cell in POINTS}),
}

EXPECTED: dict[str, dict[str, int]] = {name: expected for name, (_, _, expected) in STUDENTS.items()}
